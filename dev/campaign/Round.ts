/**
 * One round of the fault campaign against the built job (dist/main.js): a database of its own on
 * the campaign's PostgreSQL, a fake notify service keeping a journal, a fault proxy between each
 * job process and the database; the schedule's processes and faults at their moments; then every
 * fault healed and clean runs until nothing is left to do; then what happened, for the checker.
 */
import { Effect, Exit, Scope } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import pg from "pg"
import type { EmbeddedDatabase } from "../embeddedPostgres.js"
import { type FakeNotify, type FakeNotifyBehaviour, type JournalEntry, serveFakeNotify } from "../fakeNotify/FakeNotify.js"
import { type FaultProxy, startFaultProxy } from "../faultProxy.js"
import { createTodosTableSql } from "../seedTodos.js"
import { random } from "./Random.js"
import { type Fault, type FaultKind, type JobSpec, maxAttempts, type Schedule, sendSettings } from "./Schedule.js"

export const reference = "2022-06-03"
export const clientSecret = "campaign-secret"
const distMain = path.resolve(import.meta.dirname, "../../dist/main.js")

export interface TodoRow {
  readonly id: string
  readonly workspaceId: string
  readonly dueDate: string
}

export interface LedgerRow extends TodoRow {
  readonly state: string
  readonly attempts: number
  readonly claimed: boolean
}

/** A job process as the round saw it. */
export interface JobRecord {
  readonly index: number
  /** Its client id at the fake: `job-<index>`, or `clean-<n>` for the clean runs. */
  readonly client: string
  readonly spec: JobSpec | undefined
  readonly startedAt: number
  endedAt: number | undefined
  code: number | null | undefined
  signal: NodeJS.Signals | null | undefined
  /** Its summary line (`Finished to send delay notifications.`), when it wrote one. */
  summary: Record<string, unknown> | undefined
  /** Its error lines' messages, for a report. */
  readonly errors: Array<string>
  /** The todos its log said it could not send ("Could not send delayed todo. Skipping it..."), one per line. */
  readonly failedTodos: Array<string>
  /** In a round where days pass: the read it recorded in the ledger's passes, if it did (its reference as meant). */
  pass?: { readonly kind: "full" | "window" | "replay"; readonly reference: string } | undefined
}

/** In a round where days pass: a todo as the table held it (its due date as meant) from `from` until `until` (the round's clock). */
export interface TodoVersion {
  readonly todo: TodoRow
  readonly from: number
  until: number | undefined
}

/** A fault as it was applied: when, to whom (the processes alive then, for one that acts on all). */
export interface AppliedFault {
  readonly fault: Fault
  readonly at: number
  readonly until: number | undefined
  /** The job processes it acted on. */
  readonly targets: ReadonlyArray<number>
  /** Rows of the todos table it changed (a fault of the table). */
  readonly rows?: number
}

/**
 * What was left waiting before a clean run, as the job left it: each pending row's claim and next
 * try, in ms from the database's now (time the round then lets pass, all timestamps alike).
 */
export interface Wait {
  readonly key: string
  readonly attempts: number
  readonly claimLeftMs: number | null
  readonly retryLeftMs: number
  /** Before which clean run. */
  readonly beforeRun: number
}

export interface RoundHistory {
  readonly schedule: Schedule
  readonly startedAt: number
  readonly jobs: ReadonlyArray<JobRecord>
  readonly cleanRuns: ReadonlyArray<JobRecord>
  readonly faults: ReadonlyArray<AppliedFault>
  readonly initialTodos: ReadonlyArray<TodoRow>
  readonly finalTodos: ReadonlyArray<TodoRow>
  readonly poison: ReadonlySet<string>
  readonly ledger: ReadonlyArray<LedgerRow>
  readonly journal: ReadonlyArray<JournalEntry>
  /** Processes still running long past every bound, killed by the round (a hang). */
  readonly hung: ReadonlyArray<number>
  readonly waits: ReadonlyArray<Wait>
  /** The reference of the round's last runs (a round where days pass: the last day's), and the one at a moment. */
  readonly reference: string
  readonly referenceAt: (at: number) => string
  /** In a round where days pass: every version of every todo, with when the table held it. */
  readonly versions?: ReadonlyArray<TodoVersion>
}

export const query = async <A>(url: string, text: string, values: Array<unknown> = []): Promise<Array<A>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text, values)).rows as Array<A>
  } finally {
    await client.end()
  }
}

export const withDatabase = (serverUrl: string, name: string) => {
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** A calendar date (YYYY-MM-DD) `days` later (earlier when negative). */
export const addDays = (date: string, days: number) => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10)

export const keyOf = (todo: TodoRow) => `delay-notification:${todo.workspaceId}:${todo.id}:${todo.dueDate}`

/** The backlog: due dates around the reference, most of them due. */
const makeBacklog = (schedule: Schedule): Array<TodoRow> => {
  const draw = random(schedule.seed ^ 0x5eed)
  const workspaces = Array.from({ length: schedule.workspaces }, () => draw.uuid())
  return Array.from({ length: schedule.todos }, () => ({
    id: draw.uuid(),
    workspaceId: draw.pick(workspaces),
    dueDate: draw.chance(0.8) ? `2022-05-${String(draw.int(1, 31)).padStart(2, "0")}` : `2022-06-${String(draw.int(4, 30)).padStart(2, "0")}`
  }))
}

/** The fake's behaviour with no fault: answers after the round's latency, the poison todos refused. */
export const baseBehaviour = (schedule: Schedule, poison: ReadonlyArray<string>): Partial<FakeNotifyBehaviour> => ({
  latencyMs: schedule.latencyMs,
  failEvery: 0,
  failTodos: [...poison],
  failStatus: 422,
  hangEvery: 0,
  trickle: "none",
  trickleMs: 200,
  dropOnceEvery: 0,
  hugeEvery: 0,
  retryAfterSeconds: 1,
  tokenFailStatus: 0,
  tokenLifetimeSeconds: 3600
})

/** What a window of a service fault changes in the fake's behaviour. */
export const windowBehaviour: Partial<Record<FaultKind, Partial<FakeNotifyBehaviour>>> = {
  "notify-5xx": { failEvery: 1, failStatus: 500 },
  "notify-429": { failEvery: 2, failStatus: 429, retryAfterSeconds: 1 },
  "notify-429-bare": { failEvery: 2, failStatus: 429, retryAfterSeconds: 0 },
  "notify-hang": { hangEvery: 3 },
  "notify-trickle": { trickle: "notify", trickleMs: 200 },
  "notify-reset": { dropOnceEvery: 2 },
  "notify-huge": { hugeEvery: 2 },
  "token-expiry": { tokenLifetimeSeconds: 1 },
  "secret-rejected": { tokenFailStatus: 401 }
}

export const jobRecord = (index: number, client: string, spec: JobSpec | undefined): JobRecord => ({
  index,
  client,
  spec,
  startedAt: Date.now(),
  endedAt: undefined,
  code: undefined,
  signal: undefined,
  summary: undefined,
  errors: [],
  failedTodos: []
})

export interface RunningJob {
  readonly record: JobRecord
  readonly child: ReturnType<typeof spawn>
  readonly done: Promise<void>
}

export const startJob = (
  record: JobRecord,
  args: ReadonlyArray<string>,
  env: Record<string, string>
): RunningJob => {
  const child = spawn(process.execPath, [distMain, ...args], {
    env: { PATH: process.env.PATH ?? "", LOG_FORMAT: "json", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let rest = ""
  /** Each error message once, the first 20. */
  const noteError = (message: string) => {
    if (record.errors.length < 20 && !record.errors.includes(message)) record.errors.push(message)
  }
  const line = (text: string) => {
    if (!text.startsWith("{")) return
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>
      if (parsed.message === "Finished to send delay notifications.") record.summary = parsed
      else if (parsed.message === "Could not send delayed todo. Skipping it...") record.failedTodos.push(String(parsed.todoId))
      if (parsed.level === "ERROR") noteError(String(parsed.message))
    } catch {
      // not a log line
    }
  }
  child.stdout!.on("data", (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split("\n")
    rest = lines.pop() ?? ""
    for (const text of lines) line(text)
  })
  child.stderr!.on("data", (chunk: Buffer) => {
    noteError(chunk.toString().trim().slice(0, 300))
  })
  const done = new Promise<void>((resolve) => {
    child.on("close", (code, signal) => {
      line(rest)
      record.endedAt = Date.now()
      record.code = code
      record.signal = signal
      resolve()
    })
  })
  return { record, child, done }
}

/** Each pending row's claim: its batch's (migration 7), joined to the ledger's rows `n` as `c`. */
const claimsOfRows = `WITH claims AS (
  SELECT k.ws, k.id, k.due, b.claim_expires_at FROM delay_notifications.batches b,
    unnest(b.workspace_ids, b.todo_ids, b.due_dates) AS k(ws, id, due)
  WHERE b.claimed_by IS NOT NULL)`
const withClaims = "LEFT JOIN claims c ON c.ws = n.workspace_id AND c.id = n.todo_id AND c.due = n.due_date"

/**
 * Notes what each pending row of the ledger waits for (its claim, its next try, in ms from the
 * database's now; its due date as meant: `asMeant`) before clean run `beforeRun`; how long to let
 * pass for the longest of them to be over.
 */
export const noteWaits = async (url: string, waits: Array<Wait>, beforeRun: number, asMeant: (date: string) => string) => {
  const pending = await query<Omit<Wait, "key" | "beforeRun"> & TodoRow>(
    url,
    `${claimsOfRows}
     SELECT n.todo_id::text AS id, n.workspace_id::text AS "workspaceId", n.due_date::text AS "dueDate", n.attempts,
            (extract(epoch FROM c.claim_expires_at - now()) * 1000)::float8 AS "claimLeftMs",
            (extract(epoch FROM n.next_attempt_at - now()) * 1000)::float8 AS "retryLeftMs"
     FROM delay_notifications.notifications n ${withClaims} WHERE n.state = 'pending'`
  )
  for (const row of pending) {
    const key = keyOf({ ...row, dueDate: asMeant(row.dueDate) })
    waits.push({ key, attempts: row.attempts, claimLeftMs: row.claimLeftMs, retryLeftMs: row.retryLeftMs, beforeRun })
  }
  return Math.max(0, ...pending.map((row) => Math.max(row.claimLeftMs ?? 0, row.retryLeftMs))) + 1000
}

/** The ledger's rows at the end of a round. */
export const readLedger = (url: string) =>
  query<LedgerRow>(
    url,
    `${claimsOfRows}
     SELECT n.todo_id::text AS id, n.workspace_id::text AS "workspaceId", n.due_date::text AS "dueDate", n.state, n.attempts,
            (n.state = 'pending' AND c.claim_expires_at IS NOT NULL AND c.claim_expires_at > now()) AS claimed
     FROM delay_notifications.notifications n ${withClaims}`
  )

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** How long after the chaos the processes may go on before the round stops them (SIGTERM). */
const stopAfterMs = 20_000

/** How long after that a process may still run before the round calls it hung and kills it. */
const hangAfterMs = 120_000

export const runRound = async (
  schedule: Schedule,
  postgres: EmbeddedDatabase
): Promise<RoundHistory> => {
  const name = `campaign_${schedule.seed}_${Date.now()}`
  await query(postgres.url, `CREATE DATABASE ${name}`)
  const url = withDatabase(postgres.url, name)
  const scope = Effect.runSync(Scope.make())
  const proxies: Array<FaultProxy> = []
  try {
    const initialTodos = makeBacklog(schedule)
    await query(url, createTodosTableSql)
    await query(
      url,
      `INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
       SELECT t.id, 'Todo', 'Someone', t.due, t.ws FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, ws uuid, due date)`,
      [JSON.stringify(initialTodos.map((t) => ({ id: t.id, ws: t.workspaceId, due: t.dueDate })))]
    )
    const due = initialTodos.filter((todo) => todo.dueDate <= reference)
    const poison = due.slice(0, schedule.poison).map((todo) => todo.id)

    const fake: FakeNotify = await Effect.runPromise(
      Scope.extend(
        serveFakeNotify({ journal: true, acceptClient: (_, secret) => secret === clientSecret, ...baseBehaviour(schedule, poison) }),
        scope
      )
    )
    const services = { SERVICES_URL: fake.url, CLIENT_SECRET: clientSecret, ...sendSettings }
    const migrate = jobRecord(-1, "migrate", undefined)
    await startJob(migrate, ["migrate"], { DATABASE_URL: url }).done
    if (migrate.code !== 0) throw new Error(`migrate exited ${migrate.code}: ${migrate.errors.join("; ")}`)

    const startedAt = Date.now()
    const running: Array<RunningJob> = []
    const applied: Array<AppliedFault> = []
    const activeWindows = new Map<Fault, Partial<FakeNotifyBehaviour>>()
    const refreshBehaviour = () =>
      Object.assign(fake.behaviour, baseBehaviour(schedule, poison), ...activeWindows.values())
    const alive = () => running.filter((job) => job.record.endedAt === undefined)

    const launch = async (spec: JobSpec, index: number) => {
      const proxy = await startFaultProxy({ host: "127.0.0.1", port: postgres.port })
      proxies[index] = proxy
      const record = jobRecord(index, `job-${index}`, spec)
      running[index] = startJob(record, [
        "send-delay-notifications",
        "--at",
        reference,
        "--concurrency",
        String(spec.concurrency),
        "--batch-size",
        String(spec.batchSize),
        "--lease",
        `${spec.leaseSeconds}s`,
        "--grace",
        `${spec.graceSeconds}s`,
        ...(spec.rate === undefined ? [] : ["--rate", String(spec.rate)]),
        ...(spec.fair ? ["--fair"] : [])
      ], { ...services, DATABASE_URL: proxy.via(url), CLIENT_ID: record.client })
    }

    const apply = async (fault: Fault) => {
      const at = Date.now()
      const job = fault.target === undefined ? undefined : running[fault.target]
      const targetAlive = job !== undefined && job.record.endedAt === undefined
      const record = (targets: ReadonlyArray<number>, until?: number, rows?: number) =>
        applied.push({ fault, at, until, targets, ...(rows === undefined ? {} : { rows }) })
      switch (fault.kind) {
        case "kill":
        case "term":
          if (!targetAlive) return record([])
          job.child.kill(fault.kind === "kill" ? "SIGKILL" : "SIGTERM")
          return record([fault.target!])
        case "db-cut":
          if (!targetAlive) return record([])
          proxies[fault.target!]!.cut()
          return record([fault.target!])
        case "db-half-open":
          if (!targetAlive) return record([])
          proxies[fault.target!]!.setMode("half-open")
          return record([fault.target!])
        case "pg-restart": {
          const targets = alive().map((job) => job.record.index)
          await postgres.pause()
          await sleep(fault.forMs ?? 1000)
          await postgres.resume()
          return record(targets, Date.now())
        }
        case "todos-deleted": {
          const rows = await query(url, `DELETE FROM todos WHERE id IN (SELECT id FROM todos ORDER BY md5(id::text || $1) LIMIT (SELECT count(*) / 20 FROM todos)) RETURNING id`, [
            String(fault.at)
          ])
          return record([], undefined, rows.length)
        }
        case "todos-moved": {
          const rows = await query(
            url,
            `UPDATE todos SET "dueDate" = '2022-07-01' WHERE id IN (SELECT id FROM todos ORDER BY md5(id::text || $1) LIMIT (SELECT count(*) / 20 FROM todos)) RETURNING id`,
            [String(fault.at)]
          )
          return record([], undefined, rows.length)
        }
        default: {
          const change = windowBehaviour[fault.kind]!
          activeWindows.set(fault, change)
          refreshBehaviour()
          const targets = alive().map((job) => job.record.index)
          const until = at + (fault.forMs ?? 1000)
          setTimeout(() => {
            activeWindows.delete(fault)
            refreshBehaviour()
          }, fault.forMs ?? 1000)
          return record(targets, until)
        }
      }
    }

    // The timeline: starts and faults at their moments, in order.
    const events = [
      ...schedule.jobs.map((spec, index) => ({ at: spec.at, run: () => launch(spec, index) })),
      ...schedule.faults.map((fault) => ({ at: fault.at, run: () => apply(fault) }))
    ].sort((a, b) => a.at - b.at)
    for (const event of events) {
      const wait = startedAt + event.at - Date.now()
      if (wait > 0) await sleep(wait)
      await event.run()
    }
    // The round ends: whoever still runs a while after the chaos is stopped, as a pod would be.
    await Promise.race([Promise.all(running.map((job) => job.done)), sleep(stopAfterMs)])
    for (const job of alive()) {
      await apply({ kind: "term", at: Date.now() - startedAt, target: job.record.index })
    }

    // Every process ends by itself; one still running long after is hung (a failure of the round).
    const hung: Array<number> = []
    await Promise.race([
      Promise.all(running.map((job) => job.done)),
      sleep(hangAfterMs).then(() => {
        for (const job of alive()) {
          hung.push(job.record.index)
          job.child.kill("SIGKILL")
        }
      })
    ])
    await Promise.all(running.map((job) => job.done))

    // Heal: the network, the services; then time passes (claims of ended processes lapse, retries
    // come due): what each pending row waits for, as the job set it, is kept for the checker (it
    // holds each to its documented bound), and every timestamp of the ledger moves back by the
    // longest of them alike, as if that much time had passed. Nothing is expired or pulled alone.
    for (const proxy of proxies) proxy?.setMode("forward")
    activeWindows.clear()
    refreshBehaviour()
    const cleanRuns: Array<JobRecord> = []
    const waits: Array<Wait> = []
    for (let n = 0; n <= maxAttempts; n++) {
      const passMs = await noteWaits(url, waits, n, (date) => date)
      await query(
        url,
        `UPDATE delay_notifications.notifications SET next_attempt_at = next_attempt_at - $1 * interval '1 millisecond'`,
        [Math.ceil(passMs)]
      )
      await query(
        url,
        `UPDATE delay_notifications.batches
         SET claim_expires_at = claim_expires_at - $1 * interval '1 millisecond',
             next_attempt_at = next_attempt_at - $1 * interval '1 millisecond'`,
        [Math.ceil(passMs)]
      )
      const record = jobRecord(n, `clean-${n}`, undefined)
      cleanRuns.push(record)
      await startJob(record, ["send-delay-notifications", "--at", reference, "--lease", "30s"], {
        ...services,
        DATABASE_URL: url,
        CLIENT_ID: record.client
      }).done
      const [left] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM delay_notifications.notifications WHERE state = 'pending'`)
      if (left!.n === 0) break
    }

    const finalTodos = await query<TodoRow>(url, `SELECT id::text AS id, "workspaceId"::text AS "workspaceId", "dueDate"::text AS "dueDate" FROM todos`)
    const ledger = await readLedger(url)
    return {
      schedule,
      startedAt,
      jobs: running.map((job) => job.record),
      cleanRuns,
      faults: applied,
      initialTodos,
      finalTodos,
      poison: new Set(poison),
      ledger,
      journal: [...fake.state.journal],
      hung,
      waits,
      reference,
      referenceAt: () => reference
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await Promise.all(proxies.map((proxy) => proxy?.close()))
    await query(postgres.url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined)
  }
}
