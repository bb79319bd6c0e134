import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { peterTodoId, seedTodos, workspace1 } from "../../dev/seedTodos.js"
import { seedDatabase, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { metricsOf, resourceOf, serveOtlpReceiver, spansOf } from "../support/otlpReceiver.js"
import { runBuilt } from "../support/process.js"

const owner = new Map<string, string>(seedTodos.map((todo) => [todo.id, todo.workspaceId]))

describe("OpenTelemetry: traces and metrics over OTLP to OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("a run exports its run, batch and notification spans, its counters and latency histogram, and what it and the ledger ended with", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const receiver = yield* serveOtlpReceiver
        // One notification fails 4 times (first try and 3 retries), the other is sent.
        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => owner.get(id), failTodos: [peterTodoId] })
        const databaseUrl = yield* TestDatabaseUrl
        const startedAt = Date.now()
        const result = yield* Effect.promise(() =>
          runBuilt(["send-delay-notifications", "--at", "2022-06-03"], {
            env: {
              DATABASE_URL: databaseUrl,
              ...servicesEnv(fake.url),
              NOTIFY_RETRY_BASE: "1 millis",
              OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
              OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=otlp-key-5531"
            }
          })
        )
        expect(result.code).toBe(3)
        // The exporters flush when the command ends, before the process exits.
        const spans = spansOf(receiver)
        const run = spans.find((span) => span.name === "sendDelayNotifications")!
        expect(run.attributes).toMatchObject({ reference: "2022-06-03", sent: 1, failed: 1, retried: 3 })
        expect(run.attributes.runId).toMatch(/^[0-9a-f-]{36}$/)
        const batches = spans.filter((span) => span.name === "batch")
        expect(batches).toHaveLength(1)
        expect(batches[0]!.parentSpanId).toBe(run.spanId)
        expect(batches[0]!.attributes.size).toBe(2)
        const notifications = spans.filter((span) => span.name === "sendDelayNotification")
        expect(notifications).toHaveLength(2)
        for (const span of notifications) {
          expect(span.parentSpanId).toBe(batches[0]!.spanId)
          expect(span.traceId).toBe(run.traceId)
          expect(span.attributes.workspaceId).toBe(owner.get(String(span.attributes.todoId)))
        }
        expect(notifications.find((span) => span.attributes.todoId === peterTodoId)?.attributes.workspaceId).toBe(workspace1)

        const metrics = metricsOf(receiver)
        expect(metrics.get("delay_notifications.sent")?.value).toBe(1)
        expect(metrics.get("delay_notifications.failed")?.value).toBe(1)
        expect(metrics.get("delay_notifications.retried")?.value).toBe(3)
        expect(metrics.get("delay_notifications.notify.duration")?.count).toBe(fake.state.notifyRequests)
        expect(fake.state.notifyRequests).toBe(5)
        // The concurrency limit: from 4, one more for the answer accepted with two in flight (5),
        // a tenth off for the send that failed for the service's trouble (4.5, so 4).
        expect(metrics.get("delay_notifications.concurrency.limit")?.value).toBe(4)
        // What the run ended with, and what the ledger holds then: Peter's todo waits for its
        // next try (pending, not due now), nothing is a dead letter.
        const endedAt = Date.now()
        expect(metrics.get("delay_notifications.run.exit_code")?.value).toBe(3)
        expect(metrics.get("delay_notifications.run.throttled")?.value).toBe(0)
        const lastSuccess = metrics.get("delay_notifications.run.last_success_timestamp_seconds")?.value ?? 0
        expect(lastSuccess).toBeGreaterThanOrEqual(Math.floor(startedAt / 1000))
        expect(lastSuccess).toBeLessThanOrEqual(Math.ceil(endedAt / 1000))
        expect(metrics.get("delay_notifications.backlog.pending")?.value).toBe(0)
        const oldestAge = metrics.get("delay_notifications.backlog.oldest_pending_age_seconds")?.value ?? 0
        const peterDue = Date.parse("2020-06-11T00:00:00Z")
        expect(oldestAge).toBeGreaterThanOrEqual(Math.floor((startedAt - peterDue) / 1000))
        expect(oldestAge).toBeLessThanOrEqual(Math.ceil((endedAt - peterDue) / 1000))
        expect(metrics.get("delay_notifications.ledger.dead_letters")?.value).toBe(0)

        expect(resourceOf(receiver, "/v1/traces")).toMatchObject({ "service.name": "delay-notifications" })
        expect(receiver.requests.every((r) => r.headers["x-api-key"] === "otlp-key-5531")).toBe(true)
        expect(result.stdout + result.stderr).not.toContain("otlp-key-5531")
      }))
  })
})
