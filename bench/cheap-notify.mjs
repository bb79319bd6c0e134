/**
 * The benchmark's notify and auth services: the same contract as dev/fakeNotify (tokens per
 * workspace, bearer checked, Idempotency-Key honoured, latency L) on plain node:http, so that it
 * spends little CPU of the two cores the contenders share with it. `node bench/cheap-notify.mjs
 * <port> <latency ms>`; CLIENT_ID and CLIENT_SECRET are the credentials it accepts. GET
 * /__fake/stats reports what it recorded and its own CPU time; POST /__fake/reset starts afresh.
 */
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"

const port = Number(process.argv[2])
const latency = Number(process.argv[3] ?? "0")
const expected = `Basic ${Buffer.from(`${process.env.CLIENT_ID}:${process.env.CLIENT_SECRET}`).toString("base64")}`
const tokens = new Map() // token → workspaceId
const keys = new Set()
let notifications = 0
let tokenRequests = 0
let firstNotificationAt = null

const json = (response, status, body) => {
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  response.end(text)
}

const issue = (request, response) => {
  tokenRequests++
  const scope = /^workspaceId=([0-9a-f-]{36})$/.exec(new URL(request.url, "http://x").searchParams.get("scope") ?? "")
  if (request.headers.authorization !== expected) return json(response, 401, { message: "Unknown client or wrong secret" })
  if (scope === null) return json(response, 400, { message: "Malformed grant or scope" })
  const exp = Math.floor(Date.now() / 1000) + 86_400
  const payload = Buffer.from(JSON.stringify({ workspaceId: scope[1], exp })).toString("base64url")
  const token = `e30.${payload}.${randomBytes(12).toString("base64url")}`
  tokens.set(token, scope[1])
  json(response, 200, { access_token: token, token_type: "Bearer", expires_in: 86_400 })
}

const notify = (request, response, body) => {
  const bearer = request.headers.authorization?.slice(7)
  if (bearer === undefined || !tokens.has(bearer)) return json(response, 401, { message: "Token missing, expired or revoked" })
  let message
  try {
    message = JSON.parse(body).message
  } catch {
    message = undefined
  }
  if (typeof message !== "string") return json(response, 400, { message: "Malformed body" })
  const key = request.headers["idempotency-key"]
  if (key !== undefined && keys.has(key)) return json(response, 200, { message: "Notification already created" })
  if (key !== undefined) keys.add(key)
  notifications++
  firstNotificationAt ??= Date.now()
  json(response, 201, { message: "Notification created" })
}

createServer((request, response) => {
  const chunks = []
  request.on("data", (chunk) => chunks.push(chunk))
  request.on("end", () => {
    const path = request.url.split("?")[0]
    if (request.method === "POST" && path === "/auth/token") return issue(request, response)
    if (request.method === "POST" && path === "/notify/notifications") {
      const body = Buffer.concat(chunks).toString()
      return latency > 0 ? setTimeout(() => notify(request, response, body), latency) : notify(request, response, body)
    }
    if (path === "/__fake/stats") {
      const cpu = process.cpuUsage()
      return json(response, 200, {
        notifications,
        uniqueMessages: notifications,
        tokenRequests,
        firstNotificationAt,
        cpuMicros: cpu.user + cpu.system
      })
    }
    if (path === "/__fake/reset") {
      keys.clear()
      notifications = 0
      tokenRequests = 0
      firstNotificationAt = null
      response.writeHead(204).end()
      return
    }
    json(response, 404, { message: "Not found" })
  })
}).listen(port, "127.0.0.1", () => console.log(`Cheap notify service listening on http://127.0.0.1:${port}`))
