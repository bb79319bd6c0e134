// The job as a team would write it on graphile-worker, the PostgreSQL job queue: one statement
// enqueues a job per delayed todo (keyed by the todo, so a todo already queued is not queued
// twice), then a worker pool of CONCURRENCY runs them until none is left (runOnce), each job
// posting its notification with the workspace's token and an Idempotency-Key. Its retries and
// crash safety are graphile-worker's; it keeps no record of what was sent once a job completes.
// `node bench/graphile-worker.mjs --migrate` installs graphile-worker's schema (not measured).
import { runMigrations, runOnce } from "graphile-worker"
import pg from "pg"
import { makeHttp, makeTokens } from "./serviceToken.mjs"

const { CLIENT_ID, CLIENT_SECRET, DATABASE_URL, REFERENCE, SERVICES_URL } = process.env
const concurrency = Number(process.env.CONCURRENCY ?? 64)
const options = { connectionString: DATABASE_URL, concurrency, maxPoolSize: concurrency, noHandleSignals: true, pollInterval: 1000 }

if (process.argv.includes("--migrate")) {
  await runMigrations(options)
  process.exit(0)
}

const { agent, post } = makeHttp(concurrency)
const token = makeTokens({ servicesUrl: SERVICES_URL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, post })

const db = new pg.Client({ connectionString: DATABASE_URL })
await db.connect()
const { rows } = await db.query(
  `SELECT count(*)::int AS queued FROM graphile_worker.add_jobs(ARRAY(
     SELECT ROW('notify', json_build_object('id', id, 'workspaceId', "workspaceId"), NULL, NULL, NULL,
                'notify:' || "workspaceId" || ':' || id, NULL, NULL)::graphile_worker.job_spec
     FROM todos WHERE "dueDate" <= $1))`,
  [REFERENCE]
)
await db.end()

let sent = 0
await runOnce({
  ...options,
  taskList: {
    notify: async ({ id, workspaceId }) => {
      await post(`${SERVICES_URL}/notify/notifications`, {
        authorization: `Bearer ${await token(workspaceId)}`,
        "content-type": "application/json",
        "idempotency-key": `delay-notification:${workspaceId}:${id}`
      }, JSON.stringify({ message: `Todo ${id} is delayed` }))
      sent++
    }
  }
})
await agent.close()
console.log(JSON.stringify({ queued: rows[0].queued, sent }))
