import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { peterTodoId, seedTodos, workspace1 } from "../../dev/seedTodos.js"
import { seedDatabase, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { prometheusNameOf, seriesOf } from "../../deploy/monitoring/names.js"
import { MetricDeclarations } from "../../src/lib/Telemetry.js"
import { metricDescriptionsOf, metricsOf, resourceOf, serveOtlpReceiver, spansOf } from "../support/otlpReceiver.js"
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
        // In seconds: five requests to a fake on this machine took well under five seconds in all.
        expect(metrics.get("delay_notifications.notify.duration")?.sum).toBeGreaterThan(0)
        expect(metrics.get("delay_notifications.notify.duration")?.sum).toBeLessThan(5)
        expect(fake.state.notifyRequests).toBe(5)
        // The concurrency limit: 4 while the first answers measure the service's own time (it does
        // not grow then), a tenth off for the send that failed for the service's trouble (3.6, so 3).
        expect(metrics.get("delay_notifications.concurrency.limit")?.value).toBe(3)
        // What the run ended with, and what the ledger holds then: Peter's todo waits for its
        // next try (pending, not due now), nothing is a dead letter.
        const endedAt = Date.now()
        expect(metrics.get("delay_notifications.run.exit_code")?.value).toBe(3)
        expect(metrics.get("delay_notifications.run.throttled")?.value).toBe(0)
        const lastSuccess = metrics.get("delay_notifications.run.last_success_timestamp")?.value ?? 0
        expect(lastSuccess).toBeGreaterThanOrEqual(Math.floor(startedAt / 1000))
        expect(lastSuccess).toBeLessThanOrEqual(Math.ceil(endedAt / 1000))
        expect(metrics.get("delay_notifications.backlog.pending")?.value).toBe(0)
        const oldestAge = metrics.get("delay_notifications.backlog.oldest_pending_age")?.value ?? 0
        const peterDue = Date.parse("2020-06-11T00:00:00Z")
        expect(oldestAge).toBeGreaterThanOrEqual(Math.floor((startedAt - peterDue) / 1000))
        expect(oldestAge).toBeLessThanOrEqual(Math.ceil((endedAt - peterDue) / 1000))
        expect(metrics.get("delay_notifications.ledger.dead_letters")?.value).toBe(0)
        expect(metrics.get("delay_notifications.run.end_timestamp")?.value).toBe(lastSuccess)
        expect(metrics.get("delay_notifications.run.sent")?.value).toBe(1)
        expect(metrics.get("delay_notifications.run.failed")?.value).toBe(1)

        expect(resourceOf(receiver, "/v1/traces")).toMatchObject({ "service.name": "delay-notifications" })
        // Each process an instance of its own, on every signal.
        const instance = resourceOf(receiver, "/v1/metrics")["service.instance.id"]
        expect(instance).toMatch(/^[0-9a-f-]{36}$/)
        expect(resourceOf(receiver, "/v1/traces")["service.instance.id"]).toBe(instance)
        expect(receiver.requests.every((r) => r.headers["x-api-key"] === "otlp-key-5531")).toBe(true)
        expect(result.stdout + result.stderr).not.toContain("otlp-key-5531")
      }))

    it.scoped("what arrives over OTLP, named by the Prometheus translation's rules, is what the alerts and the dashboard read: units given, no runtime metrics, an instance per process", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const receiver = yield* serveOtlpReceiver
        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => owner.get(id), failTodos: [peterTodoId] })
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NOTIFY_RETRY_BASE: "1 millis", OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }
        for (const _ of [1, 2]) yield* Effect.promise(() => runBuilt(["send-delay-notifications", "--at", "2022-06-03"], { env }))

        const described = metricDescriptionsOf(receiver)
        // Only the job's own metrics: none of Effect's runtime (effect_fiber_*).
        expect([...described.keys()].filter((name) => !name.startsWith("delay_notifications."))).toEqual([])
        // Each with the unit and kind it is declared with, never the "1" that turns into _ratio.
        const declared = new Map(Object.values(MetricDeclarations).map((d) => [d.name, d]))
        for (const [name, { instrument, unit }] of described) {
          expect({ name, unit, instrument }).toEqual({ name, unit: declared.get(name)?.unit, instrument: declared.get(name)?.instrument })
          expect(unit).not.toBe("1")
        }
        // Named as a Collector's Prometheus exporter names them, every series the rules and the
        // dashboard read arrives.
        const arriving = new Set([...described].flatMap(([name, { instrument, unit }]) => seriesOf(name, unit, instrument)))
        const root = path.resolve(import.meta.dirname, "../..")
        const read = [
          readFileSync(path.join(root, "deploy/monitoring/alerts.yaml"), "utf8"),
          readFileSync(path.join(root, "deploy/monitoring/dashboard.json"), "utf8")
        ].flatMap((text) => [...text.matchAll(/\bdelay_notifications_[a-z_]+/g)].map((m) => m[0]))
        expect([...new Set(read)].filter((name) => !arriving.has(name))).toEqual([])
        expect(prometheusNameOf("delay_notifications.run.exit_code", described.get("delay_notifications.run.exit_code")!.unit, "gauge"))
          .toBe("delay_notifications_run_exit_code")
        // Two processes, two instances.
        const instances = new Set(
          receiver.requests.filter((r) => r.path === "/v1/metrics").map((r) =>
            r.body.resourceMetrics[0].resource.attributes.find((a: any) => a.key === "service.instance.id")?.value.stringValue
          )
        )
        expect(instances.size).toBe(2)
      }))

    it.scoped("a Pushgateway that does not answer: one warning, without the URL or its credentials; the run's own exit code stands", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => owner.get(id) })
        const databaseUrl = yield* TestDatabaseUrl
        const result = yield* Effect.promise(() =>
          runBuilt(["send-delay-notifications", "--at", "2022-06-03"], {
            env: {
              DATABASE_URL: databaseUrl,
              ...servicesEnv(fake.url),
              PUSHGATEWAY_URL: "http://pusher:push-secret-4471@127.0.0.1:9/prefix"
            }
          })
        )
        expect(result.code).toBe(0)
        const warnings = result.stdout.split("\n").filter((line) => line.includes("Could not push the run's metrics"))
        expect(warnings).toHaveLength(1)
        expect(JSON.parse(warnings[0]!)).toMatchObject({ level: "WARN" })
        expect(result.stdout + result.stderr).not.toContain("push-secret-4471")
        expect(fake.state.notifications).toHaveLength(2)
      }))
  })
})
