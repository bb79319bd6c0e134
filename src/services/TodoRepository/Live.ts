/**
 * The TodoRepository on PostgreSQL (the ledger in the job's schema, beside the todos table),
 * assembled from its parts: Ledger (what every statement shares), Backlog (the todos table), Claims
 * (claims of batches) and Outcomes (their outcomes written back).
 */
import type { SqlClient } from "@effect/sql"
import { type ConfigError, Effect, Layer } from "effect"
import type { DatabaseError, SchemaNotCurrent } from "../DatabaseErrors.js"
import { type LedgerTime, TodoRepository } from "../TodoRepository.js"
import { makeBacklog } from "./Backlog.js"
import { makeClaims } from "./Claims.js"
import { makeLedger } from "./Ledger.js"
import { makeOutcomes } from "./Outcomes.js"

const make = (time: LedgerTime) =>
  Effect.map(makeLedger(time), (ledger) => {
    const { enqueueDelayed, pending, planReading } = makeBacklog(ledger)
    return TodoRepository.of({ planReading, enqueueDelayed, pending, ...makeClaims(ledger), ...makeOutcomes(ledger) })
  })

/** The live repository on PostgreSQL, on the database's clock; checks at start that the job's schema is current. */
export const TodoRepositoryLive: Layer.Layer<
  TodoRepository,
  DatabaseError | SchemaNotCurrent | ConfigError.ConfigError,
  SqlClient.SqlClient
> = Layer.effect(TodoRepository, make("database"))

/** The live repository on Effect's Clock instead of the database's (tests under TestClock). */
export const TodoRepositoryOnClockLive: Layer.Layer<
  TodoRepository,
  DatabaseError | SchemaNotCurrent | ConfigError.ConfigError,
  SqlClient.SqlClient
> = Layer.effect(TodoRepository, make("clock"))
