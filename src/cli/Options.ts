/**
 * The command line's options: durations and counts with their ranges, the reference date, the
 * run's tuning. An option that a variable may also set is read in two steps: the flag when the
 * command line is parsed (a bad flag is usage, exit 2) and, without it, the variable when the
 * command runs (a bad variable is configuration, exit 1, naming it).
 */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Config, ConfigError, DateTime, Duration, Effect, Either, Option } from "effect"
import { defaultFullPassEvery } from "../domain/Reading.js"
import { parseReference, parseTimeZone, referenceDateOf } from "../domain/ReferenceDate.js"
import type { CalendarDate } from "../domain/Todo.js"
import { durationConfig, type DurationRange, integerConfig, outOfBounds, outOfRange, parseDuration } from "../lib/Durations.js"
import type { VariableName } from "../lib/Environment.js"
import { defaultCeiling } from "../lib/ConcurrencyLimit.js"
import { Env } from "../lib/Environment.js"

export const usageError = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/** A value still to be read from its variable when the command runs (or the flag's, already read). */
export type FromEnv<A> = Effect.Effect<A, ConfigError.ConfigError>

export const orFromEnv = <A>(flag: Options.Options<A>, variable: Config.Config<A>): Options.Options<FromEnv<A>> =>
  flag.pipe(
    Options.optional,
    Options.map(Option.match({ onNone: (): FromEnv<A> => variable, onSome: (value) => Effect.succeed(value) }))
  )

const describeRange = (range: DurationRange) => `${Duration.format(range.min)} to ${Duration.format(range.max)}`

/** A duration flag with a range, and its variable with the same forms and range. */
export const duration = (name: string, env: VariableName, fallback: Duration.Duration, range: DurationRange, description: string) =>
  orFromEnv(
    Options.text(name).pipe(
      Options.withDescription(
        `${description} Range: ${describeRange(range)}. Env: ${env}. Default: ${Duration.format(fallback)}.`
      ),
      Options.mapEffect((text) =>
        Option.match(parseDuration(text), {
          onNone: () => Effect.fail(usageError(`--${name}: expected a duration such as 500ms, 90s, 5m, 2h or 30d: "${text}"`)),
          onSome: (value) => {
            const problem = outOfRange(value, range)
            return problem === undefined ? Effect.succeed(value) : Effect.fail(usageError(`--${name} ${problem}.`))
          }
        })
      )
    ),
    durationConfig(env, fallback, range)
  )

/** An integer flag within [min, max]; out of it is usage. */
const integerFlag = (name: string, min: number, max: number, description: string) =>
  Options.integer(name).pipe(
    Options.withDescription(description),
    Options.mapEffect((n) => {
      const problem = outOfBounds(n, min, max)
      return problem === undefined ? Effect.succeed(n) : Effect.fail(usageError(`--${name} ${problem}.`))
    })
  )

/** An integer flag with a range, and its variable with the same range; `fallback` undefined: none without both. */
export const integer = <D extends number | undefined>(
  name: string,
  env: VariableName,
  fallback: D,
  min: number,
  max: number,
  description: string
): Options.Options<FromEnv<number | D>> =>
  orFromEnv<number | D>(
    integerFlag(name, min, max, `${description} Range: ${min} to ${max}. Env: ${env}. Default: ${fallback ?? "none"}.`),
    integerConfig(env, fallback, min, max)
  )

/** An integer flag with a range and a default, no variable. */
export const count = (name: string, fallback: number, min: number, max: number, description: string) =>
  integerFlag(name, min, max, `${description} Range: ${min} to ${max}. Default: ${fallback}.`).pipe(
    Options.withDefault(fallback)
  )

/**
 * A text flag and its variable, checked alike by `check` (the value, or what is wrong with the
 * text): a bad flag is usage, a bad variable is configuration naming it. `fallback`: the text
 * taken without both.
 */
export const checked = <A>(
  name: string,
  env: VariableName,
  description: string,
  check: (text: string) => Either.Either<A, string>,
  fallback?: string
) =>
  orFromEnv(
    Options.text(name).pipe(
      Options.withDescription(description),
      Options.mapEffect((text) => Either.mapLeft(check(text), (problem) => usageError(`--${name}: ${problem}`)))
    ),
    Config.string(env).pipe(
      fallback === undefined ? (config) => config : Config.withDefault(fallback),
      Config.mapOrFail((text) => Either.mapLeft(check(text), (problem) => ConfigError.InvalidData([env], problem)))
    )
  )

/** --time-zone or TIME_ZONE: an IANA name or an offset. */
export const timeZone = checked(
  "time-zone",
  Env.TIME_ZONE,
  "Time zone whose calendar date is the reference date (and, for schedule, of the cron expression): an IANA " +
    "name or an offset. Env: TIME_ZONE. Default: UTC.",
  (text) => Either.mapLeft(parseTimeZone(text), (error) => error.message),
  "UTC"
)

/** When the run's reference date is: now, or pinned by --at (checked when parsed; read in the zone when run). */
export type ReferenceSpec =
  | { readonly _tag: "Now"; readonly zone: FromEnv<DateTime.TimeZone> }
  | { readonly _tag: "At"; readonly at: string; readonly zone: FromEnv<DateTime.TimeZone> }

export const reference: Options.Options<ReferenceSpec> = Options.all({
  now: Options.boolean("now").pipe(
    Options.withDescription("Take the current time as the reference (the default when --at is not given).")
  ),
  at: Options.text("at").pipe(
    Options.withDescription(
      "Pin the reference: a date (2022-06-03) or a date-time (2022-06-03T23:30:00Z, or without an offset for a " +
        "wall-clock time in --time-zone). For replays and tests."
    ),
    Options.optional
  ),
  zone: timeZone
}).pipe(
  Options.mapEffect(({ at, now, zone }) =>
    Effect.gen(function*() {
      if (at._tag === "None") return { _tag: "Now", zone } as const
      if (now) return yield* Effect.fail(usageError("Give either --now or --at, not both."))
      // The form is checked now (usage); the zone, perhaps from TIME_ZONE, when the command runs.
      yield* Either.mapLeft(parseReference(at.value, DateTime.zoneUnsafeMakeNamed("UTC")), (e) => usageError(`--at: ${e.message}`))
      return { _tag: "At", at: at.value, zone } as const
    })
  )
)

/** The reference date of a run. */
export const resolveReference = (spec: ReferenceSpec): Effect.Effect<CalendarDate, ConfigError.ConfigError> =>
  Effect.flatMap(spec.zone, (zone) =>
    spec._tag === "At"
      ? Effect.orDie(parseReference(spec.at, zone)) // its form was checked when parsed
      : Effect.map(DateTime.now, (now) => referenceDateOf(now, zone)))

/** How a run sends: shared by send-delay-notifications and schedule. */
export const tuningOptions = {
  concurrency: integer(
    "concurrency",
    Env.CONCURRENCY,
    defaultCeiling,
    1,
    1024,
    "The most notifications in flight at once: the ceiling of the limit the run finds (from 4, growing while " +
      "answers stay fast and accepted, cut back on a 429/503, a timeout or a latency spike), or, with " +
      "--fixed-concurrency, the number kept to."
  ),
  fixedConcurrency: Options.boolean("fixed-concurrency").pipe(
    Options.withDescription(
      "Keep --concurrency requests in flight instead of finding the notify service's limit. Env: FIXED_CONCURRENCY " +
        "(true/false). Default: false."
    ),
    Options.map((fixed): FromEnv<boolean> =>
      fixed ? Effect.succeed(true) : Config.boolean(Env.FIXED_CONCURRENCY).pipe(Config.withDefault(false))
    )
  ),
  rate: integer(
    "rate",
    Env.RATE,
    undefined,
    1,
    100_000,
    "At most this many requests per second toward the notify service (retries included); none: no limit."
  ),
  fair: Options.boolean("fair").pipe(
    Options.withDescription(
      "Claim round-robin over workspaces (one todo of each before a second of any) instead of oldest first, so one " +
        "huge workspace cannot starve the others."
    ),
    Options.map((fair): FromEnv<boolean> => Effect.succeed(fair))
  ),
  batchSize: integer("batch-size", Env.BATCH_SIZE, 200, 1, 10_000, "Todos claimed per database round trip."),
  lease: duration(
    "lease",
    Env.LEASE,
    Duration.minutes(5),
    { min: Duration.seconds(1), max: Duration.days(1) },
    "How long a claim holds without renewal (the run renews its claims every quarter of it); a crashed run's " +
      "claims are taken over by a later run after it."
  ),
  maxAttempts: integer("max-attempts", Env.MAX_ATTEMPTS, 10, 1, 1000, "Tries per notification, across runs, before it becomes a dead letter."),
  grace: duration(
    "grace",
    Env.GRACE_PERIOD,
    Duration.seconds(20),
    { min: Duration.seconds(1), max: Duration.hours(1) },
    "After SIGTERM/SIGINT, how long in-flight notifications may take before they are cut off (Kubernetes waits 30s)."
  ),
  outageAfter: integer(
    "outage-after",
    Env.OUTAGE_AFTER,
    20,
    1,
    100_000,
    "Stop the run when this many notifications in a row fail with a transient error (after their retries)."
  ),
  progress: duration(
    "progress",
    Env.PROGRESS_EVERY,
    Duration.seconds(10),
    { min: Duration.seconds(1), max: Duration.hours(1) },
    "How often a run reports its progress: a log line (sent, failed, left to claim, rate, estimated end), or on a " +
      "terminal one line that rewrites itself."
  ),
  fullPassEvery: duration(
    "full-pass-every",
    Env.FULL_PASS_EVERY,
    defaultFullPassEvery,
    { min: Duration.zero, max: Duration.days(30) },
    "How often a run reads the whole todos table (a full pass); the runs between read only the todos due since " +
      "the last complete read, less 2 days (a window), when the table has an index on \"dueDate\". A full pass " +
      "also finds todos a window cannot see: one inserted with a due date before the window, or moved to one. " +
      "0s: every run reads the whole table."
  ),
  retryDelay: duration(
    "retry-delay",
    Env.RETRY_DELAY,
    Duration.minutes(5),
    { min: Duration.seconds(1), max: Duration.days(7) },
    "Wait before a failed notification is tried again by a later run; doubled after each failure, at most 6h."
  )
}

type ValueOf<T> = T extends Options.Options<infer A> ? A : never

/** The tuning options as parsed: each value still to be read from its variable when no flag gave it. */
export type TuningOptions = { readonly [K in keyof typeof tuningOptions]: ValueOf<(typeof tuningOptions)[K]> }

/** The run's tuning, read. */
export type Tuning = { readonly [K in keyof TuningOptions]: Effect.Effect.Success<TuningOptions[K]> }

/** The run's tuning, each value from its flag or else its variable. */
export const resolveTuning = (options: TuningOptions): Effect.Effect<Tuning, ConfigError.ConfigError> => Effect.all(options)
