import { describe, expect, it } from "vitest"
import { WorkspaceId } from "../src/domain/Todo.js"
import type { ClaimedTodo } from "../src/domain/Todo.js"
import { adaptiveLimit, fixedLimit } from "../src/lib/ConcurrencyLimit.js"
import { makeThrottling } from "../src/run/Throttling.js"

/** `n` answers of `ms` each at `now`, with the limit's worth in flight. */
const answers = (limit: ReturnType<typeof adaptiveLimit>, n: number, ms: number, now: number) => {
  for (let i = 0; i < n; i++) limit.answered(ms, now, limit.current())
}

describe("the adaptive concurrency limit", () => {
  it("starts at 4 and doubles each round of accepted answers, up to 64, then grows by one a round", () => {
    const limit = adaptiveLimit(200)
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
    const limit = adaptiveLimit(200)
    for (let i = 0; i < 100; i++) limit.answered(20, 0, 1)
    expect(limit.current()).toBe(4)
  })

  it("a throttled answer takes one off; at the service's level it tries one more after a second without one", () => {
    const limit = adaptiveLimit(200)
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
    const limit = adaptiveLimit(200)
    answers(limit, 4 + 8 + 16, 20, 0)
    expect(limit.current()).toBe(32)
    for (let i = 0; i < 24; i++) limit.throttled(100)
    expect(limit.current()).toBe(8)
    // At one already: the caller pauses the client instead.
    for (let i = 0; i < 7; i++) limit.throttled(100)
    expect(limit.throttled(100)).toBe(false)
  })

  it("cuts by a tenth on a round whose fastest answer is over twice the baseline and 10 ms slower, and on a timeout once a round", () => {
    // At its ceiling, so that rounds are ten answers each.
    const limit = adaptiveLimit(10, 10)
    answers(limit, 10, 20, 0)
    answers(limit, 10, 29, 0)
    expect(limit.current()).toBe(10)
    answers(limit, 10, 45, 0)
    expect(limit.current()).toBe(9)
    limit.overloaded(0)
    expect(limit.current()).toBe(9)
    answers(limit, 9, 20, 0)
    limit.overloaded(0)
    expect(limit.current()).toBe(8)
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
  it("slows only the workspace whose requests alone are turned away while the others' go through", () => {
    const limit = adaptiveLimit(200)
    answers(limit, 4 + 8 + 16, 20, 0)
    const throttling = makeThrottling<string>(limit, 0)
    // The first 429 could be the client's: one off the limit.
    expect(throttling.throttled(todo("w"), 1000, 0)).toBe(1000)
    expect(limit.current()).toBe(31)
    throttling.accepted(ws("other"), 5)
    // Again for w alone, with another workspace accepted since: w's own limit.
    expect(throttling.throttled(todo("w"), 1000, 10)).toBe(1010)
    expect(limit.current()).toBe(31)
    expect(throttling.heldUntil(ws("w"), 500)).toBe(1010)
    expect(throttling.heldUntil(ws("other"), 500)).toBeUndefined()
    expect(throttling.heldUntil(ws("w"), 1010)).toBeUndefined()
  })

  it("with one workspace only, or at a limit of one, slows the client: the limit, then a pause of the whole client", () => {
    const limit = adaptiveLimit(200, 2)
    const throttling = makeThrottling<string>(limit, 0)
    throttling.throttled(todo("w"), undefined, 0)
    throttling.throttled(todo("w"), undefined, 0)
    expect(limit.current()).toBe(1)
    expect(throttling.heldUntil(ws("other"), 500)).toBe(1000)
  })

  it("gives back what it set aside in the order its time comes", () => {
    const throttling = makeThrottling<string>(fixedLimit(4), 0)
    throttling.setAside(todo("a", 1), "b1", 300)
    throttling.setAside(todo("a", 2), "b1", 100)
    throttling.setAside(todo("a", 3), "b2", 200)
    expect(throttling.nextDue()).toBe(100)
    expect(throttling.takeDue(150)?.todo.id).toBe(todo("a", 2).id)
    expect(throttling.takeDue(150)).toBeUndefined()
    expect(throttling.takeAll().map((entry) => entry.notBefore)).toEqual([200, 300])
  })
})
