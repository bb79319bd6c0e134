/**
 * For test/embeddedPostgres.test.ts: starts an embedded PostgreSQL, prints its URL and folder as
 * one JSON line, then either stops it and exits with the code given in `EXIT_CODE` (set before
 * anything else), or, with `HOLD=1`, waits to be killed.
 */
import { startEmbeddedPostgres } from "../../dev/embeddedPostgres.js"

process.exitCode = Number(process.env.EXIT_CODE ?? "0")
const database = await startEmbeddedPostgres()
process.stdout.write(`${JSON.stringify({ url: database.url, folder: database.folder })}\n`)
if (process.env.HOLD === "1") setInterval(() => {}, 60_000)
else await database.stop()
