import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { startFaultProxy } from "../../dev/faultProxy.js"
import { createTodosTable, insertDelayedTodos, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { serveFakeNotifyLive, servicesEnv, shortSends } from "../support/notify.js"
import { logLines, runBuilt, startBuilt, summaryLine } from "../support/process.js"
import { waitUntil } from "../support/TestApp.js"

/** A proxy between the job and this file's database, closed with the scope. */
const proxyTo = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(() => startFaultProxy({ host: "127.0.0.1", port: Number(new URL(url).port) })),
    (proxy) => Effect.promise(() => proxy.close())
  )

// Sends that cannot take long, so a lease of 20 s is accepted and the test can wait it out.
const args = ["send-delay-notifications", "--at", "2022-06-03", "--concurrency", "16", "--batch-size", "50", "--lease", "20s"]

/** 4,000 delayed todos; the job on its way through them, talking to the database through a proxy. */
const jobUnderWay = (extra: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    yield* createTodosTable
    yield* insertDelayedTodos(4_000, 40)
    const url = yield* TestDatabaseUrl
    const proxy = yield* proxyTo(url)
    const fake = yield* serveFakeNotifyLive({ latencyMs: 20 })
    const env = { DATABASE_URL: proxy.via(url), ...servicesEnv(fake.url), ...shortSends }
    const job = startBuilt([...args, ...extra], { env })
    yield* fake.until((state) => state.notifications.length >= 300)
    return { url, proxy, fake, env, job }
  })

describe("A database that stops answering (a proxy that stops forwarding and closes nothing)", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("the run ends with exit 1 and one line saying so; the next run sends the rest, nothing created twice", () =>
      Effect.gen(function*() {
        const { env, fake, job: first, proxy, url } = yield* jobUnderWay([])
        proxy.setMode("half-open")
        // No deadline of the job's own would leave this waiting for good (the test's timeout).
        const lost = yield* Effect.promise(() => first.done)
        expect(lost.code).toBe(1)
        const aborted = logLines(lost.stdout).filter((line) => line.message === "The database stopped answering. Aborting job...")
        expect(aborted).toHaveLength(1)
        expect(String(aborted[0]!.error)).toMatch(/did not answer within 15s \(DATABASE_TIMEOUT\)|could be opened within DATABASE_CONNECT_TIMEOUT/)

        // Straight to the database: what the lost run claimed is taken over once its lease has run out.
        const sql = yield* SqlClient.SqlClient
        yield* waitUntil(Effect.map(
          sql<{ n: number }>`SELECT coalesce(sum(cardinality(todo_ids)), 0)::int AS n FROM delay_notifications.batches WHERE claim_expires_at > now()`,
          ([row]) => row!.n === 0
        ))
        const second = yield* Effect.promise(() => runBuilt(args, { env: { ...env, DATABASE_URL: url } }))
        expect(second.code).toBe(0)
        const messages = fake.state.notifications.map((n) => n.message)
        expect(new Set(messages).size).toBe(4_000)
        expect(messages).toHaveLength(4_000)
      }), { timeout: 240_000 })

    it.scoped("SIGTERM while the database does not answer: exit 143, the outcomes not written counted, the process gone", () =>
      Effect.gen(function*() {
        const { job: run, proxy } = yield* jobUnderWay(["--grace", "2s"])
        proxy.setMode("half-open")
        // A statement of the job's is now lost on the way.
        yield* waitUntil(() => proxy.dropped() > 0)
        run.child.kill("SIGTERM")
        // The stop's bound is the grace period and 10 s (the job enforces it from the signal on),
        // with 3 s for starting and reading the process.
        const stopped = yield* Effect.promise(() => run.done).pipe(
          Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("the stopped job was still running 15 s after SIGTERM") })
        )
        expect(stopped.code).toBe(143)
        expect(stopped.stdout).toContain("Could not record some outcomes")
        const summary = summaryLine(stopped.stdout)
        expect(summary).toMatchObject({ unrecorded: expect.any(Number) })
        expect(Number(summary!.unrecorded)).toBeGreaterThan(0)
      }), { timeout: 120_000 })

    it.scoped("a second SIGTERM ends the process at once, with the signal's code, not after the grace period", () =>
      Effect.gen(function*() {
        const { job, proxy } = yield* jobUnderWay(["--grace", "5m"])
        proxy.setMode("half-open")
        yield* waitUntil(() => proxy.dropped() > 0)
        let output = ""
        job.child.stdout!.on("data", (chunk) => (output += chunk))
        job.child.kill("SIGTERM")
        yield* waitUntil(() => output.includes("Stopping: claiming no more"))
        job.child.kill("SIGTERM")
        const stopped = yield* Effect.promise(() => job.done)
        expect(stopped.code).toBe(143)
        // Neither the grace period's end nor the run's summary: the process did not wait for them.
        expect(stopped.stdout).not.toContain("The grace period ended")
        expect(summaryLine(stopped.stdout)).toBeUndefined()
      }), { timeout: 120_000 })
  })
})
