import { describe, expect, it } from "vitest"
import { WorkspaceId } from "../src/domain/Todo.js"
import type { ClaimedTodo } from "../src/domain/Todo.js"
import { adaptiveLimit, fixedLimit } from "../src/lib/ConcurrencyLimit.js"
import { makeThrottling } from "../src/run/Throttling.js"

/** The first 20 answers, at the initial limit: the baseline measured (20 ms unless said). */
const warm = (limit: ReturnType<typeof adaptiveLimit>, ms = 20) => {
  for (let i = 0; i < 20; i++) limit.answered(ms, 0, limit.current())
  return limit
}

/** `n` answers of `ms` each at `now`, with the limit's worth in flight. */
const answers = (limit: ReturnType<typeof adaptiveLimit>, n: number, ms: number, now: number) => {
  for (let i = 0; i < n; i++) limit.answered(ms, now, limit.current())
}

describe("the adaptive concurrency limit", () => {
  it("starts at 4 and doubles each round of accepted answers, up to 64, then grows by one a round", () => {
    const limit = adaptiveLimit(200)
    expect(limit.current()).toBe(4)
    // The baseline first: 20 answers at 4, the limit held there.
    warm(limit)
    expect(limit.current()).toBe(4)
    answers(limit, 4, 20, 0)
    expect(limit.current()).toBe(8)
    answers(limit, 8, 20, 0)
    expect(limit.current()).toBe(16)
    answers(limit, 16 + 32, 20, 0)
    expect(limit.current()).toBe(64)
    answers(limit, 65, 20, 0)
    expect(limit.current()).toBe(65)
  })

  it("does not grow while the run does not use it", () => {
    const limit = warm(adaptiveLimit(200))
    for (let i = 0; i < 100; i++) limit.answered(20, 0, 1)
    expect(limit.current()).toBe(4)
  })

  it("a throttled answer takes one off; at the service's level it tries one more after a second without one", () => {
    const limit = warm(adaptiveLimit(200))
    answers(limit, 4 + 8, 20, 0)
    expect(limit.current()).toBe(16)
    answers(limit, 1, 20, 0)
    expect(limit.current()).toBe(17)
    expect(limit.throttled(10)).toBe(true)
    expect(limit.current()).toBe(16)
    answers(limit, 100, 20, 500)
    expect(limit.current()).toBe(16)
    answers(limit, 1, 20, 1011)
    expect(limit.current()).toBe(17)
  })

  it("follows a limit that drops: each request turned away takes one off", () => {
    const limit = warm(adaptiveLimit(200))
    answers(limit, 4 + 8 + 16, 20, 0)
    expect(limit.current()).toBe(32)
    for (let i = 0; i < 24; i++) limit.throttled(100)
    expect(limit.current()).toBe(8)
    // At one already: the caller pauses the client instead.
    for (let i = 0; i < 7; i++) limit.throttled(100)
    expect(limit.throttled(100)).toBe(false)
  })

  it("cuts in proportion on a round whose median is over 1.5 times the baseline (a queue at the service), and by a tenth on a timeout once a round", () => {
    // Out of slow start at 9 (a throttled answer), so that rounds are nine answers each; the first is the baseline.
    const limit = warm(adaptiveLimit(10, 10))
    limit.throttled(0)
    answers(limit, 9, 20, 0)
    answers(limit, 9, 29, 0)
    expect(limit.current()).toBe(9)
    // A median of 45 ms against 1.5 x 20: to 9 x 30 / 45.
    answers(limit, 9, 45, 0)
    expect(limit.current()).toBe(6)
    // A timeout in the same round as that cut: not cut again.
    limit.overloaded(0)
    expect(limit.current()).toBe(6)
    // The next round is back within the tolerance: no cut; a timeout after it takes a tenth off.
    answers(limit, 6, 22, 0)
    expect(limit.current()).toBe(6)
    limit.overloaded(0)
    expect(limit.current()).toBe(5)
  })

  /**
   * A service that queues behind `workers`, each busy `workMs` a request: with `c` in flight an
   * answer takes `workMs` times c / workers (never less than `workMs`). The limit answers a round
   * at a time, the clock moving by the round's time.
   */
  const againstQueue = (workers: number, workMs: number, rounds: number, random = () => 0.5) => {
    const limit = adaptiveLimit(200, 4, random)
    let now = 0
    const seen: Array<{ limit: number; ms: number }> = []
    for (let r = 0; r < rounds; r++) {
      const c = limit.current()
      const ms = workMs * Math.max(1, c / workers)
      for (let i = 0; i < c; i++) limit.answered(ms, now + ms, c)
      now += ms
      seen.push({ limit: c, ms })
    }
    return seen
  }

  it("holds near a queueing service's concurrency: 10 workers of 20 ms, the limit settles under 20 and answers under 3 x 20 ms", () => {
    const seen = againstQueue(10, 20, 3000).slice(1000)
    expect(Math.max(...seen.map((s) => s.limit))).toBeLessThanOrEqual(20)
    const sorted = seen.map((s) => s.ms).sort((a, b) => a - b)
    expect(sorted[sorted.length >> 1]).toBeLessThanOrEqual(60)
    // And keeps the workers busy: at least the 10 in flight they serve, most of the time.
    expect(seen.filter((s) => s.limit >= 10).length / seen.length).toBeGreaterThan(0.9)
  })

  it("re-measures its baseline at 3 in flight every 30 to 45 s: a baseline taken in a queue does not stay", () => {
    // The first round is answered slowly, as if a queue were there already (80 ms for 20 ms of work).
    const limit = adaptiveLimit(200, 4, () => 0)
    for (let i = 0; i < 20; i++) limit.answered(80, 0, 4)
    let now = 0
    let lowest = Infinity
    for (let r = 0; r < 4000; r++) {
      const c = limit.current()
      const ms = 20 * Math.max(1, c / 10)
      for (let i = 0; i < c; i++) limit.answered(ms, now + ms, c)
      now += ms
      if (now > 30_000) lowest = Math.min(lowest, c)
      if (now > 60_000) break
    }
    // The measure came (3 in flight), and after it the queue is seen: the limit is back under 20.
    expect(lowest).toBe(3)
    expect(limit.current()).toBeLessThanOrEqual(20)
  })

  it("a fixed limit stays put and never pauses the client", () => {
    const limit = fixedLimit(16)
    limit.throttled(0)
    limit.overloaded(0)
    expect(limit.current()).toBe(16)
    expect(limit.throttled(0)).toBe(true)
  })
})

const workspaces: Record<string, string> = {
  w: "00000000-0000-4000-8000-00000000000a",
  a: "00000000-0000-4000-8000-00000000000b",
  other: "00000000-0000-4000-8000-00000000000c"
}
const ws = (name: string) => WorkspaceId.make(workspaces[name]!)
const todo = (workspace: string, id = 1): ClaimedTodo => ({
  id: `00000000-0000-4000-8000-${String(id).padStart(12, "0")}` as ClaimedTodo["id"],
  workspaceId: ws(workspace),
  dueDate: "2022-06-01" as ClaimedTodo["dueDate"],
  attempts: 0
})

describe("throttling within a run", () => {
  /** `n` accepted answers of `workspace`, one every `everyMs` from `from`; the time after the last. */
  const acceptedFor = (throttling: ReturnType<typeof makeThrottling<string>>, workspace: string, n: number, everyMs: number, from: number) => {
    for (let i = 0; i < n; i++) throttling.accepted(ws(workspace), from + i * everyMs)
    return from + n * everyMs
  }

  it("a workspace refused while the service accepted its requests is paced alone, just under its rate: the others and the client's limit go on", () => {
    const limit = warm(adaptiveLimit(200))
    answers(limit, 4 + 8 + 16, 20, 0)
    const throttling = makeThrottling<string>(limit)
    // w is accepted 20 times a second (every 50 ms), then refused with Retry-After 1 s.
    const now = acceptedFor(throttling, "w", 20, 50, 0)
    const until = throttling.throttled(todo("w"), 1000, false, now, 0)
    expect(until).toBe(now + 1000)
    expect(limit.current()).toBe(32)
    // The refused todo waits its second; w's others go on, paced just under the 20 a second it
    // was accepted at: 18 a second. The other workspace is not paced.
    expect(throttling.admit(ws("w"), now)).toBeUndefined()
    // The next two have their places reserved, 1/18 s apart.
    expect(throttling.admit(ws("w"), now)).toEqual({ until: expect.closeTo(now + 1000 / 18, 0), reserved: true })
    expect(throttling.admit(ws("w"), now)).toEqual({ until: expect.closeTo(now + 2000 / 18, 0), reserved: true })
    for (let i = 0; i < 5; i++) expect(throttling.admit(ws("other"), now)).toBeUndefined()
  })

  it("a refusal that asks for 10 s or more holds its workspace that long; the others go on", () => {
    const throttling = makeThrottling<string>(warm(adaptiveLimit(200)))
    const now = acceptedFor(throttling, "w", 20, 50, 0)
    const until = throttling.throttled(todo("w"), 60_000, false, now, 0)
    expect(throttling.admit(ws("w"), now + 30_000)).toEqual({ until, reserved: false })
    expect(throttling.admit(ws("other"), now + 30_000)).toBeUndefined()
  })

  it("a workspace refused with nothing of its own accepted in the last second meets the client's limit: one off the limit, then a pace for the client", () => {
    const limit = warm(adaptiveLimit(200, 2))
    const throttling = makeThrottling<string>(limit)
    const now = acceptedFor(throttling, "other", 50, 10, 0)
    throttling.throttled(todo("w", 1), undefined, false, now, 0)
    expect(limit.current()).toBe(1)
    // At one already: the client is paced under what it was accepting (100 a second), w held.
    throttling.throttled(todo("a", 2), undefined, false, now + 1, 0)
    expect(throttling.admit(ws("other"), now + 2)).toBeUndefined()
    expect(throttling.admit(ws("other"), now + 2)!.until - (now + 2)).toBeGreaterThan(9)
  })

  it("a 503 without Retry-After (overloaded) slows the client, not the workspace", () => {
    const limit = warm(adaptiveLimit(200))
    answers(limit, 4 + 8 + 16, 20, 0)
    const throttling = makeThrottling<string>(limit)
    const now = acceptedFor(throttling, "w", 20, 50, 0)
    throttling.throttled(todo("w"), undefined, true, now, 0)
    expect(limit.current()).toBe(31)
    expect(throttling.admit(ws("w"), now + 10)).toBeUndefined()
  })

  it("waits are never under the floor, never over the cap, and spread: Retry-After 0 or none is 1 to 2 s, hours are 5 to 10 minutes", () => {
    const throttling = makeThrottling<string>(fixedLimit(4))
    expect(throttling.throttled(todo("w"), 0, false, 0, 0)).toBe(1000)
    expect(throttling.throttled(todo("w"), 0, false, 0, 0.5)).toBe(1500)
    expect(throttling.throttled(todo("w"), undefined, false, 0, 0.999)).toBe(1999)
    expect(throttling.throttled(todo("w"), 3 * 3600_000, false, 0, 0)).toBe(300_000)
    expect(throttling.throttled(todo("w"), 3 * 3600_000, false, 0, 0.5)).toBe(450_000)
  })

  it("stops the run after a minute refused with nothing accepted, counting from the first refusal, not from the last accepted answer", () => {
    const throttling = makeThrottling<string>(fixedLimit(4))
    throttling.accepted(ws("w"), 0)
    // A long quiet time (a slow service, a pause), then one refusal: not a minute of refusals.
    throttling.throttled(todo("w"), 1, false, 90_000, 0)
    expect(throttling.refusingAll(90_000)).toBe(false)
    expect(throttling.refusingAll(149_999)).toBe(false)
    expect(throttling.refusingAll(150_000)).toBe(true)
    // One accepted answer and the count starts again.
    throttling.accepted(ws("w"), 150_001)
    expect(throttling.refusingAll(200_000)).toBe(false)
  })

  it("a storm (24 of the last 32 answers refused, over several workspaces) holds the whole client for the wait asked", () => {
    const throttling = makeThrottling<string>(warm(adaptiveLimit(200)))
    // Three workspaces accepted a while (every 10 ms), then every request refused.
    let now = 0
    for (; now < 320; now += 10) throttling.accepted(ws(["w", "a", "other"][(now / 10) % 3]!), now)
    let until = 0
    for (let i = 0; i < 23; i++) until = throttling.throttled(todo(["w", "a", "other"][i % 3]!, i), 1000, false, now + i, 0)
    // 23 of 32: paced workspaces, no hold of the client.
    expect(throttling.admit(ws("other"), now + 30)).toBeUndefined()
    until = throttling.throttled(todo("a", 99), 1000, false, now + 23, 0)
    // The 24th: the client waits as a whole, every workspace.
    for (const w of ["w", "a", "other"]) expect(throttling.admit(ws(w), now + 30)).toEqual({ until, reserved: false })
  })

  it("gives back what it set aside in the order its time comes", () => {
    const throttling = makeThrottling<string>(fixedLimit(4))
    throttling.setAside(todo("a", 1), "b1", 300)
    throttling.setAside(todo("a", 2), "b1", 100)
    throttling.setAside(todo("a", 3), "b2", 200)
    expect(throttling.nextDue()).toBe(100)
    expect(throttling.takeDue(150)?.todo.id).toBe(todo("a", 2).id)
    expect(throttling.takeDue(150)).toBeUndefined()
    expect(throttling.takeAll().map((entry) => entry.notBefore)).toEqual([200, 300])
  })
})
