// The seed's design, written plainly: offset pages of 100 ordered by id, one notification at a
// time, marked after it is sent (the column "delayNotificationSent" on todos). Its offset moves
// on while marked rows leave the result, so it skips rows: it is at-least-once for nobody.
import pg from "pg"
import { makeTokens } from "./serviceToken.mjs"

const { CLIENT_ID, CLIENT_SECRET, DATABASE_URL, REFERENCE, SERVICES_URL } = process.env
const db = new pg.Client({ connectionString: DATABASE_URL })
await db.connect()
const post = async (url, headers, body) => {
  const response = await fetch(url, { method: "POST", headers, body })
  const text = await response.text()
  if (!response.ok) throw new Error(`HTTP ${response.status}`)
  return text
}
const token = makeTokens({ servicesUrl: SERVICES_URL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, post })

let sent = 0
let failed = 0
for (let offset = 0;; offset += 100) {
  const { rows } = await db.query(
    `SELECT id, "workspaceId" FROM todos WHERE "dueDate" <= $1 AND NOT "delayNotificationSent" ORDER BY id LIMIT 100 OFFSET $2`,
    [REFERENCE, offset]
  )
  if (rows.length === 0) break
  for (const todo of rows) {
    try {
      await post(`${SERVICES_URL}/notify/notifications`, {
        authorization: `Bearer ${await token(todo.workspaceId)}`,
        "content-type": "application/json"
      }, JSON.stringify({ message: `Todo ${todo.id} is delayed` }))
      await db.query(`UPDATE todos SET "delayNotificationSent" = true WHERE id = $1 AND "workspaceId" = $2`, [todo.id, todo.workspaceId])
      sent++
    } catch {
      failed++
    }
  }
}
await db.end()
console.log(JSON.stringify({ sent, failed }))
