import type { TestProject } from "vitest/node"
import { startEmbeddedPostgres } from "../../dev/embeddedPostgres.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** A PostgreSQL server for the integration tests; each test file makes its own database on it. */
    databaseUrl: string
  }
}

/** One PostgreSQL server for the whole run: TEST_DATABASE_URL when set, else an embedded one. */
export default async function setup(project: TestProject) {
  const given = process.env.TEST_DATABASE_URL
  if (given !== undefined && given !== "") {
    project.provide("databaseUrl", given)
    return
  }
  const database = await startEmbeddedPostgres()
  project.provide("databaseUrl", database.url)
  return () => database.stop()
}
