// A hand-tuned plain-Node script: keyset pages of 1,000 over the primary key, undici with
// keep-alive, CONCURRENCY sends in flight, one batched UPDATE per page. No claims, no retries,
// no guarantees: what a careful engineer would write in an afternoon.
import pg from "pg"
import { makeHttp, makeTokens } from "./serviceToken.mjs"

const { CLIENT_ID, CLIENT_SECRET, DATABASE_URL, REFERENCE, SERVICES_URL } = process.env
const concurrency = Number(process.env.CONCURRENCY ?? 64)
const db = new pg.Client({ connectionString: DATABASE_URL })
await db.connect()
const { agent, post } = makeHttp(concurrency)
const token = makeTokens({ servicesUrl: SERVICES_URL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, post })

let sent = 0
let failed = 0
let last = ["00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"]
while (true) {
  const { rows } = await db.query(
    `SELECT id, "workspaceId" FROM todos
     WHERE "dueDate" <= $1 AND NOT "delayNotificationSent" AND (id, "workspaceId") > ($2, $3)
     ORDER BY id, "workspaceId" LIMIT 1000`,
    [REFERENCE, ...last]
  )
  if (rows.length === 0) break
  const done = []
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < rows.length) {
      const todo = rows[next++]
      try {
        await post(`${SERVICES_URL}/notify/notifications`, {
          authorization: `Bearer ${await token(todo.workspaceId)}`,
          "content-type": "application/json"
        }, JSON.stringify({ message: `Todo ${todo.id} is delayed` }))
        done.push(todo)
        sent++
      } catch {
        failed++
      }
    }
  }))
  await db.query(
    `UPDATE todos SET "delayNotificationSent" = true FROM unnest($1::uuid[], $2::uuid[]) AS u(id, ws)
     WHERE todos.id = u.id AND todos."workspaceId" = u.ws`,
    [done.map((t) => t.id), done.map((t) => t.workspaceId)]
  )
  const tail = rows[rows.length - 1]
  last = [tail.id, tail.workspaceId]
}
await db.end()
await agent.close()
console.log(JSON.stringify({ sent, failed }))
