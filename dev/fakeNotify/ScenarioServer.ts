/**
 * The notify and auth services of one scenario (dev/scenarios/*.yaml, ServiceModel.ts), on plain
 * node:http so that it costs the two cores little: tokens per workspace (bearer checked),
 * Idempotency-Key honoured (one notification per key), and every notification request answered as
 * the scenario's service would. What it saw is in `stats()`: requests, refusals and when, the most
 * in flight, the service's time per answered request, notifications and duplicates by key.
 * `startScenarioServer` serves it on 127.0.0.1 for the scenario suite (test/scenarios/scenarios.test.ts) and
 * the benchmark (bench/scenarios.ts).
 */
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import YAML from "yaml"
import { makeServiceModel, type Scenario } from "./ServiceModel.js"

/** A scenario file, read. */
export const readScenario = (file: string): Scenario => YAML.parse(readFileSync(file, "utf8")) as Scenario

export interface ScenarioStats {
  readonly requests: number
  readonly refused: number
  /** Requests lost on the way (the scenario's `loseEvery`): never answered. */
  readonly lost: number
  /** Epoch ms of each refusal. */
  readonly refusedAt: ReadonlyArray<number>
  /** The workspace of each refusal (beside `refusedAt`) and of each notification (beside `createdAt`). */
  readonly refusedOf: ReadonlyArray<string>
  readonly createdOf: ReadonlyArray<string>
  /** Epoch ms of each notification created. */
  readonly createdAt: ReadonlyArray<number>
  readonly notifications: number
  /** Requests for a key already created (a resend after a lost answer): answered 200, nothing created. */
  readonly duplicates: number
  readonly mostInFlight: number
  /** The service's time (queue included) of each answered notification request, ms. */
  readonly servedMs: ReadonlyArray<number>
  readonly firstNotificationAt: number | null
  readonly lastNotificationAt: number | null
  readonly tokenRequests: number
  readonly tokensRefused: number
  /** Notifications created per workspace id. */
  readonly byWorkspace: Readonly<Record<string, number>>
}

const json = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers })
  response.end(text)
}

export const startScenarioServer = (scenario: Scenario, credentials: { readonly clientId: string; readonly clientSecret: string }) =>
  new Promise<{ readonly url: string; readonly stats: () => ScenarioStats; readonly close: () => Promise<void> }>((resolve) => {
    const model = makeServiceModel(scenario)
    const expected = `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`).toString("base64")}`
    const tokens = new Map<string, string>()
    const keys = new Set<string>()
    const refusedAt: Array<number> = []
    const refusedOf: Array<string> = []
    const servedMs: Array<number> = []
    const createdAt: Array<number> = []
    const createdOf: Array<string> = []
    const byWorkspace: Record<string, number> = {}
    let requests = 0
    let lost = 0
    let notifications = 0
    let duplicates = 0
    let mostInFlight = 0
    let firstNotificationAt: number | null = null
    let lastNotificationAt: number | null = null
    let tokenRequests = 0
    let tokensRefused = 0

    const issue = (request: IncomingMessage, response: ServerResponse) => {
      tokenRequests++
      if (model.authThrottles(tokenRequests)) {
        tokensRefused++
        return json(response, 429, { message: "Too many token requests" }, { "retry-after": "1" })
      }
      const scope = /^workspaceId=([0-9a-f-]{36})$/.exec(new URL(request.url ?? "", "http://x").searchParams.get("scope") ?? "")
      if (request.headers.authorization !== expected) return json(response, 401, { message: "Unknown client or wrong secret" })
      if (scope === null) return json(response, 400, { message: "Malformed grant or scope" })
      const token = randomBytes(18).toString("base64url")
      tokens.set(token, scope[1]!)
      json(response, 200, { access_token: token, token_type: "Bearer", expires_in: 86_400 })
    }

    const notify = (request: IncomingMessage, response: ServerResponse, body: string) => {
      requests++
      const workspaceId = tokens.get(request.headers.authorization?.slice(7) ?? "")
      if (workspaceId === undefined) return json(response, 401, { message: "Token missing, expired or revoked" })
      const arrived = Date.now()
      const verdict = model.arrive(workspaceId, arrived)
      // Left open without an answer, until the client gives up on it or the server closes.
      if (verdict._tag === "Lose") return void lost++
      if (verdict._tag === "Refuse") {
        refusedAt.push(arrived)
        refusedOf.push(workspaceId)
        return json(response, verdict.status, { message: "Refused" }, verdict.retryAfter === null ? {} : { "retry-after": verdict.retryAfter })
      }
      mostInFlight = Math.max(mostInFlight, model.inFlight())
      setTimeout(() => {
        model.leave()
        servedMs.push(Date.now() - arrived)
        let message: unknown
        try {
          message = (JSON.parse(body) as { message?: unknown }).message
        } catch {
          message = undefined
        }
        if (typeof message !== "string") return json(response, 400, { message: "Malformed body" })
        const key = request.headers["idempotency-key"]
        if (typeof key === "string" && keys.has(key)) {
          duplicates++
          return json(response, 200, { message: "Notification already created" })
        }
        if (typeof key === "string") keys.add(key)
        notifications++
        byWorkspace[workspaceId] = (byWorkspace[workspaceId] ?? 0) + 1
        firstNotificationAt ??= Date.now()
        lastNotificationAt = Date.now()
        createdAt.push(lastNotificationAt)
        createdOf.push(workspaceId)
        json(response, 201, { message: "Notification created" })
      }, verdict.afterMs)
    }

    const server = createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const path = (request.url ?? "").split("?")[0]
        if (request.method === "POST" && path === "/auth/token") return issue(request, response)
        if (request.method === "POST" && path === "/notify/notifications") return notify(request, response, Buffer.concat(chunks).toString())
        json(response, 404, { message: "Not found" })
      })
    })
    server.keepAliveTimeout = 30_000
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        stats: () => ({
          requests,
          refused: refusedAt.length,
          lost,
          refusedAt,
          refusedOf,
          createdAt,
          createdOf,
          notifications,
          duplicates,
          mostInFlight,
          servedMs,
          firstNotificationAt,
          lastNotificationAt,
          tokenRequests,
          tokensRefused,
          byWorkspace
        }),
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })
