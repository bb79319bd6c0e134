/**
 * The job's schema (delay_notifications) and its migrations, in order; the last one's id is the
 * schema this code needs (checked at start).
 */
import { Migrator } from "@effect/sql"
import ledger from "./0001_ledger.js"
import fairRank from "./0002_fair_rank.js"
import claimsByOwner from "./0003_claims_by_owner.js"
import claimsInPlace from "./0004_claims_in_place.js"
import passes from "./0005_passes.js"
import replays from "./0006_replays.js"
import batches from "./0007_batches.js"

/** The schema the job owns; the todos table is read where the search_path finds it. */
export const ledgerSchema = "delay_notifications"
/** @effect/sql's Migrator records applied migrations here. */
export const migrationsTable = `${ledgerSchema}.migrations`

/** Every migration, by id; the last id is the schema the code expects. */
export const migrations = {
  "1_ledger": ledger,
  "2_fair_rank": fairRank,
  "3_claims_by_owner": claimsByOwner,
  "4_claims_in_place": claimsInPlace,
  "5_passes": passes,
  "6_replays": replays,
  "7_batches": batches
} as const

export const latestMigrationId = Math.max(...Object.keys(migrations).map((key) => Number(key.split("_")[0])))

export const migrationLoader = Migrator.fromRecord(migrations)

