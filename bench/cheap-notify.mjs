/**
 * The benchmark's notify and auth services: the same contract as dev/fakeNotify (tokens per
 * workspace, bearer checked, Idempotency-Key honoured, latency L) on plain node:http, so that it
 * spends little CPU of the two cores the contenders share with it. `node bench/cheap-notify.mjs
 * <port> <latency ms>`; CLIENT_ID and CLIENT_SECRET are the credentials it accepts. GET
 * /__fake/stats reports what it recorded and its own CPU time; POST /__fake/reset starts afresh.
 *
 * POST /__fake/limits sets the limits of a production service that does not publish them (the
 * limited rows of the benchmark): `inFlight` requests at once, `rate` a second (a token bucket of
 * a tenth of a second's), each answered 429 with Retry-After: 1 past it; `dropAfterMs` after the
 * first notification they fall to `dropInFlightTo` / `dropRateTo`; `tokenSeconds` issues opaque
 * tokens that expire after that many seconds (401 after). The stats then say how many requests
 * were throttled, when (from the drop), the most requests in any second, and the 401s.
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
let limits = {}
let inFlight = 0
let bucket = { tokens: Number.NaN, at: 0 }
let requestTimes = []
let throttledTimes = []
let unauthorized = 0
const opaque = new Map() // token → expiry (epoch ms)

const dropped = () => limits.dropAfterMs !== undefined && firstNotificationAt !== null && Date.now() >= firstNotificationAt + limits.dropAfterMs
const inFlightLimit = () => (dropped() && limits.dropInFlightTo !== undefined ? limits.dropInFlightTo : limits.inFlight)
const rateLimit = () => (dropped() && limits.dropRateTo !== undefined ? limits.dropRateTo : limits.rate)
/** Whether a request may come in now under the limits (a token taken from the bucket if so). */
const admit = () => {
  const most = inFlightLimit()
  if (most !== undefined && inFlight >= most) return false
  const rate = rateLimit()
  if (rate === undefined) return true
  const now = Date.now()
  const capacity = Math.max(1, rate / 10)
  bucket.tokens = Number.isNaN(bucket.tokens) ? capacity : Math.min(capacity, bucket.tokens + ((now - bucket.at) * rate) / 1000)
  bucket.at = now
  if (bucket.tokens < 1) return false
  bucket.tokens -= 1
  return true
}
/** The most of `times` (sorted) in any window of a second. */
const mostInASecond = (times) => {
  let most = 0
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && times[j] < times[i] + 1000) j++
    most = Math.max(most, j - i)
  }
  return most
}

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
  if (limits.tokenSeconds !== undefined) {
    const token = randomBytes(24).toString("base64url")
    tokens.set(token, scope[1])
    opaque.set(token, Date.now() + limits.tokenSeconds * 1000)
    return json(response, 200, { access_token: token, token_type: "Bearer", expires_in: limits.tokenSeconds })
  }
  const exp = Math.floor(Date.now() / 1000) + 86_400
  const payload = Buffer.from(JSON.stringify({ workspaceId: scope[1], exp })).toString("base64url")
  const token = `e30.${payload}.${randomBytes(12).toString("base64url")}`
  tokens.set(token, scope[1])
  json(response, 200, { access_token: token, token_type: "Bearer", expires_in: 86_400 })
}

const notify = (request, response, body) => {
  const bearer = request.headers.authorization?.slice(7)
  if (bearer === undefined || !tokens.has(bearer) || (opaque.get(bearer) ?? Infinity) <= Date.now()) {
    unauthorized++
    return json(response, 401, { message: "Token missing, expired or revoked" })
  }
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
      requestTimes.push(Date.now())
      if (!admit()) {
        throttledTimes.push(Date.now())
        response.writeHead(429, { "content-type": "application/json", "retry-after": "1" })
        return response.end(`{"message":"Too many requests"}`)
      }
      inFlight++
      response.on("close", () => inFlight--)
      return latency > 0 ? setTimeout(() => notify(request, response, body), latency) : notify(request, response, body)
    }
    if (request.method === "POST" && path === "/__fake/limits") {
      limits = JSON.parse(Buffer.concat(chunks).toString() || "{}")
      return json(response, 200, limits)
    }
    if (path === "/__fake/stats") {
      const cpu = process.cpuUsage()
      return json(response, 200, {
        notifications,
        uniqueMessages: notifications,
        tokenRequests,
        firstNotificationAt,
        cpuMicros: cpu.user + cpu.system,
        requests: requestTimes.length,
        throttled: throttledTimes.length,
        unauthorized,
        mostInASecond: mostInASecond(requestTimes),
        dropAt: limits.dropAfterMs === undefined || firstNotificationAt === null ? null : firstNotificationAt + limits.dropAfterMs,
        throttledAt: throttledTimes,
        lastRequestAt: requestTimes.at(-1) ?? null
      })
    }
    if (path === "/__fake/reset") {
      keys.clear()
      notifications = 0
      tokenRequests = 0
      firstNotificationAt = null
      requestTimes = []
      throttledTimes = []
      unauthorized = 0
      bucket = { tokens: Number.NaN, at: 0 }
      response.writeHead(204).end()
      return
    }
    json(response, 404, { message: "Not found" })
  })
}).listen(port, "127.0.0.1", () => console.log(`Cheap notify service listening on http://127.0.0.1:${port}`))
