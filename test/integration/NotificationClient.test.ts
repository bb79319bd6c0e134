import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel, TestClock } from "effect"
import { ousmaneTodoId, peterTodoId, workspace1, workspace2 } from "../../dev/seedTodos.js"
import { TodoId, WorkspaceId } from "../../src/domain/Todo.js"
import { NotificationClient } from "../../src/services/NotificationClient.js"
import { captureLogs } from "../support/TestApp.js"
import { clientId, clientSecret, fakeAndClient, liveClientLayer } from "../support/notify.js"

const notification = (todoId: string, workspaceId: string) => ({
  todoId: TodoId.make(todoId),
  workspaceId: WorkspaceId.make(workspaceId),
  message: `Todo ${todoId} is delayed`,
  idempotencyKey: `key-${todoId}`
})
const peter = notification(peterTodoId, workspace1)
const ousmane = notification(ousmaneTodoId, workspace2)

/** The requests to the notify service the fake has answered. */
const requestsSeen = (answers: Record<number, number>) => Object.values(answers).reduce((sum, n) => sum + n, 0)

/** `count` todos spread over `workspaces` workspaces, with ids the fake can map back. */
const manyTodos = (count: number, workspaces: Array<string>) =>
  Array.from({ length: count }, (_, i) =>
    notification(`00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, workspaces[i % workspaces.length]!)
  )

describe("NotificationClient over HTTP against the fake notify service", () => {
  it.scoped("warns at start when SERVICES_URL is plain http:// to another machine, not for loopback or https", () =>
    Effect.gen(function*() {
      const warnings = (url: string) =>
        Effect.gen(function*() {
          const logs = yield* captureLogs
          yield* Layer.build(liveClientLayer(url)).pipe(Effect.provide(logs.layer))
          return logs.lines.filter((line) => line.level === "WARN").map((line) => line.message)
        })
      expect(yield* warnings("http://notify.internal:3001")).toEqual([
        "SERVICES_URL is plain http:// to another machine: the client credentials and the tokens travel in clear text. Use https://."
      ])
      expect(yield* warnings("http://127.0.0.1:3001")).toEqual([])
      expect(yield* warnings("http://localhost:3001")).toEqual([])
      expect(yield* warnings("https://notify.internal")).toEqual([])
    }))

  it.scoped("asks for a token exactly as the contract says", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* fakeAndClient()
      yield* Context.get(client, NotificationClient).send(peter)
      expect(fake.state.tokenRequests).toEqual([{
        url: `/auth/token?grant_type=client_credentials&scope=workspaceId%3D${workspace1}`,
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
        contentType: "application/x-www-form-urlencoded;charset=utf-8",
        body: ""
      }])
      expect(fake.state.notifications).toEqual([
        { workspaceId: workspace1, message: `Todo ${peterTodoId} is delayed`, idempotencyKey: `key-${peterTodoId}` }
      ])
    }))

  it.scoped("asks once per workspace however many sends run at once, each with its own workspace's token", () =>
    Effect.gen(function*() {
      const workspaces = [workspace1, workspace2, "5b0c8a52-54c5-4a8e-8d5e-0d5e0b1f7a11"]
      const todos = manyTodos(300, workspaces)
      const owner = new Map(todos.map((t) => [t.todoId as string, t.workspaceId as string]))
      const { client, fake } = yield* fakeAndClient({ workspaceOf: (todoId) => owner.get(todoId) })
      const send = Context.get(client, NotificationClient).send
      yield* Effect.forEach(todos, (todo) => send(todo), { concurrency: 64, discard: true })
      expect(fake.state.tokenRequests.length).toBe(3)
      expect(fake.state.answers).toEqual({ 201: 300 })
      expect(fake.state.notifications.length).toBe(300)
      for (const recorded of fake.state.notifications) {
        expect(recorded.workspaceId).toBe(owner.get(/^Todo (\S+)/.exec(recorded.message)![1]!))
      }
    }))

  it.scoped("the fake refuses a token of another workspace with 403, and the client reports it", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* fakeAndClient({ workspaceOf: () => workspace2 })
      const error = yield* Context.get(client, NotificationClient).send(peter).pipe(Effect.flip)
      expect(error).toMatchObject({ _tag: "NotificationError", status: 403, workspaceId: workspace1, todoId: peterTodoId })
      expect(fake.state.answers).toEqual({ 403: 1 })
    }))

  it.scoped("uses a token until shortly before its exp, then fetches a new one (TestClock)", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* fakeAndClient({ tokenLifetimeSeconds: 3600 })
      const send = Context.get(client, NotificationClient).send
      yield* send(peter)
      yield* TestClock.adjust("50 minutes")
      yield* send(peter)
      expect(fake.state.tokenRequests.length).toBe(1)
      yield* TestClock.adjust("10 minutes")
      yield* send(peter)
      expect(fake.state.tokenRequests.length).toBe(2)
      // The same notification three times: created once, the repeats recognised by their key.
      expect(fake.state.answers).toEqual({ 201: 1, 200: 2 })
    }))

  it.scoped("keeps an opaque token for its expires_in less the margin, then fetches a new one before it expires (TestClock)", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* fakeAndClient({ opaqueTokens: true, tokenLifetimeSeconds: 60 })
      const send = Context.get(client, NotificationClient).send
      yield* send(peter)
      yield* TestClock.adjust("29 seconds")
      yield* send(peter)
      expect(fake.state.tokenRequests.length).toBe(1)
      yield* TestClock.adjust("2 seconds")
      yield* send(peter)
      yield* TestClock.adjust("40 seconds")
      yield* send(peter)
      // A new token before each expiry, none learnt of from a 401.
      expect(fake.state.tokenRequests.length).toBe(3)
      expect(fake.state.answers).toEqual({ 201: 1, 200: 3 })
    }))

  it.scoped("uses a token whose lifetime is shorter than the margin once, and fetches the next send's anew", () =>
    Effect.gen(function*() {
      for (const opaqueTokens of [true, false]) {
        const { client, fake } = yield* fakeAndClient({ opaqueTokens, tokenLifetimeSeconds: 2 })
        const send = Context.get(client, NotificationClient).send
        for (const todo of manyTodos(3, [workspace1])) yield* send(todo)
        yield* TestClock.adjust("3 seconds")
        yield* send(peter)
        expect(fake.state.tokenRequests.length).toBe(4)
        expect(fake.state.answers).toEqual({ 201: 4 })
      }
    }))

  it.scoped("on a 401 drops the token, fetches a new one and retries once", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* fakeAndClient()
      const send = Context.get(client, NotificationClient).send
      yield* send(peter)
      yield* TestClock.adjust("1 second")
      yield* fake.revokeTokens
      yield* TestClock.adjust("2 seconds")
      yield* send(peter)
      expect(fake.state.answers).toEqual({ 201: 1, 401: 1, 200: 1 })
      expect(fake.state.tokenRequests.length).toBe(2)
      expect(fake.state.notifications.length).toBe(1)
    }))

  it.scoped("under a rate, each request takes its turn with its workspace's token in hand, so it leaves at its turn", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* fakeAndClient()
      const send = Context.get(client, NotificationClient).send
      // How many tokens the fake had handed out as each turn was taken, and how many requests it had seen.
      const atTurns: Array<[tokens: number, requests: number]> = []
      const turn = Effect.sync(() => void atTurns.push([fake.state.tokenRequests.length, requestsSeen(fake.state.answers)]))
      const turns = { first: Effect.as(turn, true), next: turn }
      yield* send(peter, turns)
      yield* send(ousmane, turns)
      yield* TestClock.adjust("1 second")
      yield* fake.revokeTokens
      yield* TestClock.adjust("2 seconds")
      // Refused (401), a new token, posted again: the re-post's turn too comes after its token.
      yield* send(peter, turns)
      expect(atTurns).toEqual([[1, 0], [2, 1], [2, 2], [3, 3]])
      expect(fake.state.answers).toEqual({ 201: 2, 401: 1, 200: 1 })
    }))

  it.scoped("under a rate, a first turn refused (the run stopping) sends nothing: NotSent", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* fakeAndClient()
      const turns = { first: Effect.succeed(false), next: Effect.void }
      const error = yield* Effect.flip(Context.get(client, NotificationClient).send(peter, turns))
      expect(error).toMatchObject({ _tag: "NotSent", workspaceId: workspace1, todoId: peterTodoId })
      expect(fake.state.answers).toEqual({})
    }))

  it.scoped("reports a failed notification with its status and an excerpt of the body", () =>
    Effect.gen(function*() {
      // A 503 without Retry-After: the service's trouble (one with it throttles, see Faults).
      const { client } = yield* fakeAndClient({ failTodos: [peterTodoId], failStatus: 503, retryAfterSeconds: 0 }, { NOTIFY_RETRIES: "0" })
      const error = yield* Context.get(client, NotificationClient).send(peter).pipe(Effect.flip)
      expect(error).toMatchObject({ status: 503, workspaceId: workspace1, todoId: peterTodoId })
      expect(error.message).toBe(`HTTP 503: {"message":"Injected failure"}`)
    }))

  it.scoped("reports wrong client credentials as the client refused (not this todo's failure), naming CLIENT_ID only", () =>
    Effect.gen(function*() {
      const { client } = yield* fakeAndClient({ clientSecret: "another-secret" })
      const error = yield* Context.get(client, NotificationClient).send(peter).pipe(Effect.flip)
      expect(error._tag).toBe("ClientRejected")
      expect(error.message).toContain(`CLIENT_ID=${clientId}, HTTP 401`)
      expect(error.message).not.toContain(clientSecret)
      expect(error.message).not.toContain("another-secret")
    }))

  it.scoped("logs requests and responses at debug level, never a token or the secret", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const { client } = yield* fakeAndClient()
      const send = Context.get(client, NotificationClient).send
      yield* Effect.all([send(peter), send(ousmane)]).pipe(
        Effect.provide(logs.layer),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      const output = JSON.stringify(logs.lines)
      expect(logs.lines.filter((l) => l.message === "Request").length).toBe(4)
      expect(logs.lines.filter((l) => l.message === "Response").length).toBe(4)
      // The notify request and response lines name their workspace and todo.
      const notifyLines = logs.lines.filter((l) => String(l.annotations.url).endsWith("/notify/notifications"))
      expect(notifyLines).toHaveLength(4)
      for (const line of notifyLines) expect(line.annotations).toMatchObject({ workspaceId: expect.any(String), todoId: expect.any(String) })
      expect(output).toContain(`Todo ${peterTodoId} is delayed`)
      expect(output).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/)
      expect(output).not.toContain(clientSecret)
      expect(output).not.toContain(Buffer.from(`${clientId}:${clientSecret}`).toString("base64"))
      expect(output.toLowerCase()).not.toContain("bearer")
    }))
})
