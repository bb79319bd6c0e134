import { describe, expect, it } from "vitest"
import type { JournalEntry } from "../dev/fakeNotify/FakeNotify.js"
import { check, faultHit, faultPhase } from "../dev/campaign/Check.js"
import { type JobRecord, keyOf, reference, type RoundHistory, type TodoRow } from "../dev/campaign/Round.js"
import { type Fault, makeSchedule } from "../dev/campaign/Schedule.js"

const todo: TodoRow = {
  id: "00000000-0000-4000-8000-000000000001",
  workspaceId: "11111111-1111-4111-8111-000000000001",
  dueDate: "2022-05-01"
}
const key = keyOf(todo)
/** A request that created the notification, as the job sends it. */
const created = { created: true, message: `Todo ${todo.id} is delayed` } as const

const job = (index: number, over: Partial<JobRecord> = {}): JobRecord => ({
  index,
  client: `job-${index}`,
  spec: { at: 0, concurrency: 1, batchSize: 5, leaseSeconds: 8, rate: undefined, fair: false, graceSeconds: 2 },
  startedAt: 0,
  endedAt: 5_000,
  code: 0,
  signal: null,
  summary: { sent: 1, failed: 0, deadLetters: 0, skipped: 0, unrecorded: 0 },
  errors: [],
  failedTodos: [],
  ...over
})

const request = (client: string, at: number, over: Partial<JournalEntry> = {}): JournalEntry => ({
  key,
  client,
  workspaceId: todo.workspaceId,
  at,
  status: 201,
  created: false,
  message: undefined,
  injected: undefined,
  answered: true,
  endedAt: at + 10,
  ...over
})

/** A round with one todo, sent and recorded, by the given jobs, requests and faults. */
const round = (
  jobs: ReadonlyArray<JobRecord>,
  journal: ReadonlyArray<JournalEntry>,
  faults: ReadonlyArray<{ fault: Fault; at: number; targets: ReadonlyArray<number> }> = []
): RoundHistory => ({
  schedule: makeSchedule(1),
  startedAt: 0,
  jobs,
  cleanRuns: [],
  faults: faults.map((f) => ({ ...f, until: undefined })),
  initialTodos: [todo],
  finalTodos: [todo],
  poison: new Set(),
  ledger: [{ ...todo, state: "sent", attempts: 1, claimed: false }],
  journal,
  hung: [],
  waits: [],
  reference,
  referenceAt: () => reference
})

describe("the fault campaign's checker", () => {
  it("passes a round where one process sent the todo once", () => {
    expect(check(round([job(0)], [request("job-0", 1_000, created)])).violations).toEqual([])
  })

  it("fails a todo created twice, or never", () => {
    const twice = round([job(0)], [request("job-0", 1_000, created), request("job-0", 2_000, created)])
    expect(check(twice).violations).toEqual([
      `${key}: still due, created 2 time(s) (exactly once expected)`,
      `${key}: sent again by job-0 1000 ms after its clean 201 answer`
    ])
    expect(check(round([job(0)], [])).violations).toEqual([`${key}: still due, created 0 time(s) (exactly once expected)`])
  })

  it("fails a notification for another workspace, with another message, or for a todo not yet due at the reference", () => {
    const wrong = (over: Partial<JournalEntry>) => check(round([job(0)], [request("job-0", 1_000, { ...created, ...over })])).violations
    expect(wrong({ workspaceId: "11111111-1111-4111-8111-000000000002" }))
      .toEqual([`${key}: created for workspace 11111111-1111-4111-8111-000000000002`])
    expect(wrong({ message: "Todo 00000000-0000-4000-8000-000000000002 is delayed" }))
      .toEqual([`${key}: created with the message "Todo 00000000-0000-4000-8000-000000000002 is delayed"`])
    const future = keyOf({ ...todo, dueDate: "2022-06-04" })
    expect(wrong({ key: future }).filter((v) => v.includes("before its due date")))
      .toEqual([`${future}: created before its due date (the reference was 2022-06-03)`])
  })

  it("fails a process that sends a key again after a clean answer to it; allows it after a failure or an answer it did not get whole", () => {
    const again = round([job(0)], [request("job-0", 1_000, created), request("job-0", 1_500, { status: 200 })])
    expect(check(again).violations).toEqual([`${key}: sent again by job-0 500 ms after its clean 201 answer`])
    for (const first of [{ status: 500 }, { answered: false }, { injected: "reset after create" }]) {
      const retried = round([job(0)], [request("job-0", 1_000, { ...created, ...first }), request("job-0", 1_500, { status: 200 })])
      expect(check(retried)).toMatchObject({ violations: [], resentWithinProcess: 1 })
    }
  })

  it("fails a key sent by a second process while the first, answered, was not cut off (a claim taken over alive)", () => {
    const history = round([job(0), job(1)], [request("job-0", 1_000, created), request("job-1", 9_500)])
    expect(check(history).violations).toHaveLength(1)
    expect(check(history).violations[0]).toContain("sent by job-0 and answered, then sent again by job-1")
  })

  it("allows it once the first was killed and half its lease has passed, and counts it", () => {
    const killed = round(
      [job(0, { code: null, signal: "SIGKILL" }), job(1)],
      [request("job-0", 1_000, created), request("job-1", 9_500)],
      [{ fault: { kind: "kill", at: 2_000, target: 0 }, at: 2_000, targets: [0] }]
    )
    expect(check(killed)).toMatchObject({ violations: [], resentAcrossProcesses: 1 })
    const tooSoon = round(
      [job(0, { code: null, signal: "SIGKILL" }), job(1)],
      [request("job-0", 1_000, created), request("job-1", 3_000)],
      [{ fault: { kind: "kill", at: 2_000, target: 0 }, at: 2_000, targets: [0] }]
    )
    expect(check(tooSoon).violations).toHaveLength(1)
  })

  it("fails a process that sends after its database turned half-open plus its lease", () => {
    const history = round(
      [job(0, { code: 1, endedAt: 30_000 })],
      [request("job-0", 1_000, created), request("job-0", 12_000, { key: "another" })],
      [{ fault: { kind: "db-half-open", at: 2_000, target: 0 }, at: 2_000, targets: [0] }]
    )
    expect(check(history).violations.some((v) => v.startsWith("job 0 sent 1 request(s) after its claims could have lapsed"))).toBe(true)
  })

  it("fails an exit code that does not match what happened: 0 with failures, 1 with no database fault, 143 with no SIGTERM", () => {
    const sent = [request("job-0", 1_000, created)]
    const failing = { sent: 0, failed: 2, deadLetters: 0, skipped: 0, unrecorded: 0 }
    for (const over of [{ summary: failing }, { code: 1 }, { code: 143 }]) {
      expect(check(round([job(0, over)], sent)).violations.some((v) => v.startsWith("job 0 exited"))).toBe(true)
    }
  })

  it("takes an end by SIGTERM (one that came before the job was up) as 143: explained by a SIGTERM only", () => {
    const ended = (faults: Parameters<typeof round>[2]) =>
      check(round([job(0, { code: null, signal: "SIGTERM", summary: undefined })], [request("job-0", 1_000, created)], faults)).violations
    expect(ended([{ fault: { kind: "term", at: 50, target: 0 }, at: 50, targets: [0] }])).toEqual([])
    expect(ended([]).some((v) => v.startsWith("job 0 exited SIGTERM"))).toBe(true)
  })

  it("fails a stopped process that outlives its grace period and 10 s", () => {
    const history = round(
      [job(0, { code: 143, endedAt: 20_000 })],
      [request("job-0", 1_000, created)],
      [{ fault: { kind: "term", at: 2_000, target: 0 }, at: 2_000, targets: [0] }]
    )
    expect(check(history).violations.some((v) => v.startsWith("job 0 ended 6 s past its bound (stopped)"))).toBe(true)
  })

  it("fails an attempt charged for a throttled answer: each failed try charged must have had a failure injected for its key", () => {
    const refusedThenSent = (injected: Partial<JournalEntry>, attempts: number) => {
      const history = round([job(0)], [request("job-0", 1_000, injected), request("job-0", 3_000, created)])
      return check({ ...history, ledger: [{ ...todo, state: "sent", attempts, claimed: false }] }).violations
    }
    // A 429 (throttled) then sent: the sent try alone is counted.
    expect(refusedThenSent({ status: 429, injected: "fail 429" }, 1)).toEqual([])
    expect(refusedThenSent({ status: 429, injected: "fail 429" }, 2))
      .toEqual([`${key}: 1 failed tr(ies) charged, 0 failure(s) injected (a throttled answer charges none)`])
    // A 500 injected, then sent: one failed try may be charged.
    expect(refusedThenSent({ status: 500, injected: "fail 500" }, 2)).toEqual([])
  })

  it("fails a todo logged as not sent with no failure injected for it by that process, and a log that names fewer than the summary counts", () => {
    const failedOnce = { sent: 1, failed: 1, deadLetters: 0, skipped: 0, unrecorded: 0 }
    const named = (journal: ReadonlyArray<JournalEntry>, failedTodos: Array<string>) =>
      check(round([job(0, { code: 3, summary: failedOnce, failedTodos })], journal)).violations
    const sentLater = request("job-0", 3_000, created)
    expect(named([request("job-0", 1_000, { status: 500, injected: "fail 500" }), sentLater], [todo.id])).toEqual([])
    // Refused by the other process's fault only, or not refused at all.
    expect(named([request("job-1", 1_000, { status: 500, injected: "fail 500" }), sentLater], [todo.id]))
      .toContain(`job-0 logged todo ${todo.id} as not sent, with no failure injected for it`)
    expect(named([request("job-0", 1_000, { status: 429, injected: "fail 429" }), sentLater], [todo.id]))
      .toContain(`job-0 logged todo ${todo.id} as not sent, with no failure injected for it`)
    // Exit 3 that names no todo.
    expect(named([request("job-0", 1_000, { status: 500, injected: "fail 500" }), sentLater], []))
      .toEqual(["job-0: its summary counts 1 failed, its log names 0", expect.stringMatching(/^job 0 exited 3: not what happened to it/)])
  })

  it("fails a claim or a next try left further off than the job's documented bounds when the faults were healed", () => {
    const sent = round([job(0)], [request("job-0", 1_000, created)])
    const waited = (wait: { attempts: number; claimLeftMs: number | null; retryLeftMs: number }) =>
      check({ ...sent, waits: [{ key, beforeRun: 0, ...wait }] }).violations
    // A claim of its 8 s lease (or a clean run's 30 s), a throttled wait of up to 10 minutes, 1 s after a first failure.
    expect(waited({ attempts: 0, claimLeftMs: 29_000, retryLeftMs: 9 * 60_000 })).toEqual([])
    expect(waited({ attempts: 0, claimLeftMs: 40_000, retryLeftMs: 0 }))
      .toEqual([`${key}: claimed for 40 s more before clean run 0, past the longest lease (30 s)`])
    expect(waited({ attempts: 1, claimLeftMs: null, retryLeftMs: 3_600_000 }))
      .toEqual([`${key}: next try 3600 s away before clean run 0 (1 attempt(s)), past its bound of 600 s`])
  })

  it("reports a fault that hit nothing as such: a window with no request failed in it, a process no longer alive, no row changed", () => {
    const history = round([job(0)], [request("job-0", 1_000, created), request("job-0", 6_000, { status: 500, injected: "fail 500" })])
    const window = (at: number) => ({ fault: { kind: "notify-5xx" as const, at, forMs: 1_000 }, at, until: at + 1_000, targets: [0] })
    expect(faultHit(window(2_000), history)).toBe(false)
    expect(faultHit(window(5_500), history)).toBe(true)
    expect(faultHit({ fault: { kind: "kill", at: 9_000, target: 0 }, at: 9_000, until: undefined, targets: [] }, history)).toBe(false)
    // The secret refused: a process that exited 5 and was alive in the window, one started in it included.
    const refused = { fault: { kind: "secret-rejected" as const, at: 0, forMs: 2_000 }, at: 0, until: 2_000, targets: [] }
    expect(faultHit(refused, round([job(0, { startedAt: 1_000, code: 5 })], []))).toBe(true)
    expect(faultHit(refused, round([job(0, { startedAt: 3_000, code: 5 })], []))).toBe(false)
    expect(faultHit({ fault: { kind: "todos-deleted", at: 9_000 }, at: 9_000, until: undefined, targets: [], rows: 0 }, history)).toBe(false)
    expect(faultHit({ fault: { kind: "todos-deleted", at: 9_000 }, at: 9_000, until: undefined, targets: [], rows: 3 }, history)).toBe(true)
  })

  it("tells where a fault on one process landed: before its first request (its read and first claims), or in its sends", () => {
    const history = round([job(0)], [request("job-0", 1_000, created)])
    const kill = (at: number) => ({ fault: { kind: "kill" as const, at, target: 0 }, at, until: undefined, targets: [0] })
    expect(faultPhase(kill(500), history)).toBe("read")
    expect(faultPhase(kill(1_500), history)).toBe("sends")
    expect(faultPhase({ ...kill(500), targets: [] }, history)).toBeUndefined()
  })
})
