/**
 * `npm run dev:services`: keeps an embedded PostgreSQL (with the seed's todos) and the fake notify
 * service running until Ctrl-C, and prints the environment to run the job against them.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { devEnvironment, migrateDatabase } from "./devEnvironment.js"

Effect.gen(function*() {
  const { env } = yield* devEnvironment()
  yield* migrateDatabase(env.DATABASE_URL)
  yield* Console.log("Development services are up (Ctrl-C stops them and deletes the database):\n")
  for (const [name, value] of Object.entries(env)) yield* Console.log(`export ${name}=${value}`)
  yield* Console.log("\nthen: node dist/main.js send-delay-notifications --at 2022-06-03")
  return yield* Effect.never
}).pipe(Effect.scoped, NodeRuntime.runMain)
