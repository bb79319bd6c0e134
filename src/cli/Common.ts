/**
 * What every command shares: how a run ends with an exit code (JobExit), the exit codes' help
 * text, and how a command builds its services (a failure is logged and exits 1).
 */
import { HelpDoc } from "@effect/cli"
import { Effect, Layer, Schema } from "effect"
import { endingOf, logEnding, textOf } from "../Endings.js"
import { ExitCode } from "../ExitCode.js"
import type { StartupError } from "../layers/AppLayers.js"

/** A run that ended with a non-zero exit code (already logged). */
export class JobExit extends Schema.TaggedError<JobExit>()("JobExit", {
  code: Schema.Literal(...Object.values(ExitCode)),
  reason: Schema.optional(Schema.String)
}) {}

const exitCodesHelp = "Exit codes: 0 every delayed todo notified (or nothing pending), or the notify service turned every " +
  "request away for a minute and the run left the rest pending, uncharged, for the next; 1 run aborted (database " +
  "failure, schema not migrated, invalid configuration, host and database clocks over 5 minutes apart); 2 invalid usage; 3 run finished but some notifications " +
  "failed (tried again by a later run) or became dead letters, or rows could not be read (throttled requests, 429 " +
  "or 503 with Retry-After or while others are accepted, are not failures: sent again later, no attempt counted); 4 the notify service " +
  "looked down, the run stopped and left the rest pending; 5 the auth service refused the job's client credentials " +
  "(check CLIENT_ID and CLIENT_SECRET), the run stopped and left the rest pending; 130/143 stopped by SIGINT/SIGTERM, the rest left pending."

/** The exit codes, as a paragraph of the help. */
export const exitCodesDoc = HelpDoc.p(exitCodesHelp)

/** Builds a command's services; a failure here is logged and aborts the run before anything is read. */
export const buildServices = <A>(layer: Layer.Layer<A, StartupError>) =>
  Layer.build(layer).pipe(
    Effect.catchAll((error) => {
      const ending = endingOf(error, "starting")
      return Effect.zipRight(logEnding(ending), new JobExit({ code: ending.code, reason: textOf(ending) }))
    })
  )

