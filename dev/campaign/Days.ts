/**
 * A round of the fault campaign where days pass (docs/development.md, "Rounds where days pass"):
 * cron runs of the built job with `--now` (and a few replays with `--at`) over simulated days, on
 * a todos table with or without its index on "dueDate", so that runs read windows between full
 * passes. The shipped job is not told the time: the days are simulated by moving the data, as
 * time passing would. Each new day moves every date of the todos table and of the ledger (its
 * rows and its record of passes) one day back, and every timestamp 24 h back; between the runs of
 * a day, the timestamps move 5 minutes back (a cron period). Todos are added (due that day,
 * backdated, ahead), moved earlier and later, and deleted as the days go; faults land in the runs'
 * reads as well as in their sends. The history the checker reads is in the round's own terms:
 * dates as they were meant (a stored date plus the days passed when it was stored or read), times
 * on the round's clock (the real one plus the time let pass before).
 */
import { Effect, Exit, Scope } from "effect"
import type { EmbeddedDatabase } from "../embeddedPostgres.js"
import { type FakeNotify, serveFakeNotify } from "../fakeNotify/FakeNotify.js"
import { type FaultProxy, startFaultProxy } from "../faultProxy.js"
import { createTodosTableSql } from "../seedTodos.js"
import { random } from "./Random.js"
import {
  addDays,
  type AppliedFault,
  baseBehaviour,
  clientSecret,
  type JobRecord,
  jobRecord,
  noteWaits,
  query,
  readLedger,
  type RoundHistory,
  type RunningJob,
  sleep,
  startJob,
  type TodoRow,
  type TodoVersion,
  type Wait,
  windowBehaviour,
  withDatabase
} from "./Round.js"
import { type DaysPlan, type JobSpec, maxAttempts, type Schedule, sendSettings } from "./Schedule.js"

const dayMs = 86_400_000
const cronPeriodMs = 5 * 60_000
const hangAfterMs = 120_000

const utcDate = (at: number) => new Date(at).toISOString().slice(0, 10)
/** An Idempotency-Key (`delay-notification:<workspace>:<todo>:<due date>`) sent `days` into the round, with its date as meant. */
const asMeant = (key: string, days: number) => {
  const parts = key.split(":")
  return parts.length === 4 ? [...parts.slice(0, 3), addDays(parts[3]!, days)].join(":") : key
}

export const runDaysRound = async (schedule: Schedule, plan: DaysPlan, postgres: EmbeddedDatabase): Promise<RoundHistory> => {
  const name = `campaign_days_${schedule.seed}_${Date.now()}`
  await query(postgres.url, `CREATE DATABASE ${name}`)
  const url = withDatabase(postgres.url, name)
  const scope = Effect.runSync(Scope.make())
  const proxies: Array<FaultProxy> = []
  const draw = random(schedule.seed ^ 0x7d0d0)
  try {
    // The round's clock: the real one plus the time let pass; `days` of it passed so far. Each
    // time passes, a segment begins (at a real moment).
    let passedMs = 0
    let days = 0
    const timeline: Array<{ readonly fromReal: number; readonly days: number; readonly passedMs: number }> = [{ fromReal: 0, days: 0, passedMs: 0 }]
    const segmentAtReal = (real: number) => timeline.filter((segment) => segment.fromReal <= real).at(-1)!
    let startedAt = 0
    /** A real moment on the round's clock, in ms from the round's start. */
    const rel = (real: number) => real + segmentAtReal(real).passedMs - startedAt
    /** The reference of a run at a moment of the round's clock (its real date, plus the days passed then). */
    const referenceAt = (at: number) => {
      const segment = timeline.filter((s) => s.fromReal + s.passedMs - startedAt <= at).at(-1)!
      return addDays(utcDate(at + startedAt - segment.passedMs), segment.days)
    }
    /** Time passes: every timestamp of the ledger `ms` back, and its dates and the todos' `wholeDays` back. */
    const letPass = async (ms: number, wholeDays = 0) => {
      await query(
        url,
        `UPDATE delay_notifications.notifications
         SET next_attempt_at = next_attempt_at - $1 * interval '1 millisecond',
             added_at = added_at - $1 * interval '1 millisecond', updated_at = updated_at - $1 * interval '1 millisecond',
             sent_at = sent_at - $1 * interval '1 millisecond', dead_since = dead_since - $1 * interval '1 millisecond'`,
        [Math.ceil(ms)]
      )
      await query(
        url,
        `UPDATE delay_notifications.batches
         SET next_attempt_at = next_attempt_at - $1 * interval '1 millisecond', claim_expires_at = claim_expires_at - $1 * interval '1 millisecond'`,
        [Math.ceil(ms)]
      )
      await query(
        url,
        `UPDATE delay_notifications.passes SET started_at = started_at - $1 * interval '1 millisecond', completed_at = completed_at - $1 * interval '1 millisecond'`,
        [Math.ceil(ms)]
      )
      if (wholeDays > 0) {
        // In two steps, far away and back: a key moved by one day must not meet its neighbour's.
        for (const by of [10_000, wholeDays - 10_000]) {
          await query(url, `UPDATE delay_notifications.notifications SET due_date = due_date - $1::int`, [by])
          await query(
            url,
            `UPDATE delay_notifications.batches SET oldest_due = oldest_due - $1::int,
               due_dates = (SELECT array_agg(d - $1::int ORDER BY i) FROM unnest(due_dates) WITH ORDINALITY AS u(d, i))`,
            [by]
          )
          await query(url, `UPDATE delay_notifications.passes SET reference = reference - $1::int`, [by])
        }
        await query(url, `UPDATE todos SET "dueDate" = "dueDate" - $1::int`, [wholeDays])
      }
      passedMs += ms
      days += wholeDays
      timeline.push({ fromReal: Date.now(), days, passedMs })
    }

    // The table: todos due over the 60 days before the first day, and some far ahead (a long full pass).
    const [{ today }] = await query<{ today: string }>(url, `SELECT (now() AT TIME ZONE 'UTC')::date::text AS today`) as [{ today: string }]
    const workspaces = Array.from({ length: plan.workspaces }, () => draw.uuid())
    const versions: Array<TodoVersion> = []
    const current = new Map<string, TodoVersion>()
    /** The table holds `todo` from now on (in place of its last version, if any). */
    const hold = (todo: TodoRow | undefined, id: string) => {
      const at = startedAt === 0 ? 0 : rel(Date.now())
      const last = current.get(id)
      if (last !== undefined) last.until = at
      if (todo === undefined) return void current.delete(id)
      const version = { todo, from: at, until: undefined }
      versions.push(version)
      current.set(id, version)
    }
    await query(url, createTodosTableSql)
    if (plan.index) await query(url, `CREATE INDEX todos_due_date ON todos ("dueDate")`)
    /** Adds todos due on these dates (the round's terms), stored as of the days passed. */
    const insert = async (dueDates: ReadonlyArray<string>) => {
      const rows = dueDates.map((dueDate) => ({ id: draw.uuid(), workspaceId: draw.pick(workspaces), dueDate }))
      for (const row of rows) hold(row, row.id)
      await query(
        url,
        `INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
         SELECT t.id, 'Todo', 'Someone', t.due, t.ws FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, ws uuid, due date)`,
        [JSON.stringify(rows.map((t) => ({ id: t.id, ws: t.workspaceId, due: addDays(t.dueDate, -days) })))]
      )
    }
    await insert(Array.from({ length: plan.past }, () => addDays(today, -draw.int(1, 60))))
    if (plan.farAhead > 0) {
      await query(
        url,
        `INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
         SELECT gen_random_uuid(), 'Todo', 'Someone', DATE '2099-01-01', ($1::uuid[])[1 + g % $2] FROM generate_series(1, $3) AS g`,
        [workspaces, workspaces.length, plan.farAhead]
      )
    }

    const fake: FakeNotify = await Effect.runPromise(
      Scope.extend(
        serveFakeNotify({
          journal: true,
          acceptClient: (_, secret) => secret === clientSecret,
          // A key's date as meant: a todo moved by as many days as have passed is sent with the key another date had.
          keyAsKept: (key) => asMeant(key, days),
          ...baseBehaviour(schedule, [])
        }),
        scope
      )
    )
    const services = { SERVICES_URL: fake.url, CLIENT_SECRET: clientSecret, TIME_ZONE: "UTC", ...sendSettings }
    const migrate = jobRecord(-1, "migrate", undefined)
    await startJob(migrate, ["migrate"], { DATABASE_URL: url }).done
    if (migrate.code !== 0) throw new Error(`migrate exited ${migrate.code}: ${migrate.errors.join("; ")}`)

    // The read each run recorded: a row added to the ledger's passes while it ran.
    let passesSeen = 0
    const newPass = async (): Promise<JobRecord["pass"]> => {
      const passes = await query<{ kind: "full" | "window" | "replay"; reference: string }>(
        url,
        `SELECT kind, reference::text AS reference FROM delay_notifications.passes ORDER BY started_at, completed_at`
      )
      const added = passes.length > passesSeen ? passes.at(-1)! : undefined
      passesSeen = passes.length
      return added === undefined ? undefined : { kind: added.kind, reference: addDays(added.reference, days) }
    }
    startedAt = Date.now()
    const jobs: Array<JobRecord> = []
    const applied: Array<AppliedFault> = []
    const hung: Array<number> = []
    const runOne = async (args: ReadonlyArray<string>, spec: JobSpec, fault: DaysPlan["perDay"][number]["runs"][number]["fault"]) => {
      const index = jobs.length
      const proxy = await startFaultProxy({ host: "127.0.0.1", port: postgres.port })
      proxies[index] = proxy
      const record = jobRecord(index, `job-${index}`, spec)
      // The record's times on the round's clock.
      const job: RunningJob = startJob(record, [...args, "--lease", `${spec.leaseSeconds}s`, "--grace", `${spec.graceSeconds}s`], {
        ...services,
        DATABASE_URL: proxy.via(url),
        CLIENT_ID: record.client
      })
      Object.assign(record, { startedAt: rel(Date.now()) })
      jobs.push(record)
      const faulted = fault === undefined ? Promise.resolve() : sleep(fault.atMs).then(() => {
        const at = rel(Date.now())
        const alive = record.endedAt === undefined
        const targets = alive ? [index] : []
        switch (fault.kind) {
          case "kill":
          case "term":
            if (alive) job.child.kill(fault.kind === "kill" ? "SIGKILL" : "SIGTERM")
            return void applied.push({ fault: { kind: fault.kind, at, target: index }, at, until: undefined, targets })
          case "db-cut":
            if (alive) proxy.cut()
            return void applied.push({ fault: { kind: fault.kind, at, target: index }, at, until: undefined, targets })
          default: {
            const forMs = 1_500
            Object.assign(fake.behaviour, windowBehaviour[fault.kind])
            applied.push({ fault: { kind: fault.kind, at, forMs }, at, until: at + forMs, targets })
            return sleep(forMs).then(() => void Object.assign(fake.behaviour, baseBehaviour(schedule, [])))
          }
        }
      })
      const timer = setTimeout(() => {
        hung.push(index)
        job.child.kill("SIGKILL")
      }, hangAfterMs)
      await job.done
      clearTimeout(timer)
      await faulted
      record.endedAt = rel(Date.now())
      record.pass = await newPass()
    }

    for (const [d, day] of plan.perDay.entries()) {
      if (d > 0) await letPass(dayMs - cronPeriodMs * plan.perDay[d - 1]!.runs.length, 1)
      const theDay = addDays(today, days)
      // What the day brings: todos due that day, backdated, ahead; some moved, some deleted.
      await insert([
        ...Array.from({ length: day.dueToday }, () => theDay),
        ...Array.from({ length: day.backdated }, () => addDays(theDay, -draw.int(1, 10))),
        ...Array.from({ length: day.ahead }, () => addDays(theDay, draw.int(1, 3)))
      ])
      const live = [...current.values()]
      for (let i = 0; i < day.moved && live.length > 0; i++) {
        const todo = live.splice(draw.int(0, live.length - 1), 1)[0]!.todo
        const moved = { ...todo, dueDate: addDays(todo.dueDate, draw.chance(0.5) ? -draw.int(1, 5) : draw.int(1, 5)) }
        hold(moved, todo.id)
        await query(url, `UPDATE todos SET "dueDate" = $2 WHERE id = $1`, [todo.id, addDays(moved.dueDate, -days)])
      }
      for (let i = 0; i < day.deleted && live.length > 0; i++) {
        const todo = live.splice(draw.int(0, live.length - 1), 1)[0]!.todo
        hold(undefined, todo.id)
        await query(url, `DELETE FROM todos WHERE id = $1`, [todo.id])
      }
      for (const run of day.runs) {
        const spec: JobSpec = { at: rel(Date.now()), concurrency: run.concurrency, batchSize: 50, leaseSeconds: 8, rate: undefined, fair: false, graceSeconds: 2 }
        const reading = run.replayDaysBack === undefined ? ["--now"] : ["--at", addDays(utcDate(Date.now()), -run.replayDaysBack)]
        await runOne(["send-delay-notifications", ...reading, "--full-pass-every", plan.fullPassEvery, "--concurrency", String(run.concurrency)], spec, run.fault)
        for (const proxy of proxies) proxy?.setMode("forward")
        await letPass(cronPeriodMs)
      }
    }

    // Heal, then let `--full-pass-every` pass (a full pass is due: late arrivals are found within
    // that bound), after noting what each pending row waits for; clean cron runs until nothing is
    // pending, time let pass before each by the longest wait.
    Object.assign(fake.behaviour, baseBehaviour(schedule, []))
    const waits: Array<Wait> = []
    const cleanRuns: Array<JobRecord> = []
    await noteWaits(url, waits, 0, (date) => addDays(date, days))
    const fullPassDays = plan.fullPassEvery === "12h" ? 1 : Number(plan.fullPassEvery.slice(0, -1))
    await letPass(fullPassDays * dayMs, fullPassDays)
    for (let n = 0; n <= maxAttempts; n++) {
      if (n > 0) await letPass(await noteWaits(url, waits, n, (date) => addDays(date, days)))
      const record = jobRecord(n, `clean-${n}`, undefined)
      Object.assign(record, { startedAt: rel(Date.now()) })
      cleanRuns.push(record)
      await startJob(record, ["send-delay-notifications", "--now", "--full-pass-every", plan.fullPassEvery, "--lease", "30s"], { ...services, DATABASE_URL: url, CLIENT_ID: record.client }).done
      record.endedAt = rel(Date.now())
      record.pass = await newPass()
      const [left] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM delay_notifications.notifications WHERE state = 'pending'`)
      if (left!.n === 0) break
    }

    // In the round's terms: dates as meant, times on its clock from its start.
    const finalTodos = (await query<TodoRow>(url, `SELECT id::text AS id, "workspaceId"::text AS "workspaceId", "dueDate"::text AS "dueDate" FROM todos WHERE "dueDate" < DATE '2099-01-01' - 10000`))
      .map((todo) => ({ ...todo, dueDate: addDays(todo.dueDate, days) }))
    const ledger = (await readLedger(url)).map((row) => ({ ...row, dueDate: addDays(row.dueDate, days) }))
    const journal = fake.state.journal.map((entry) => {
      const segment = segmentAtReal(entry.at)
      const key = entry.key === undefined ? undefined : asMeant(entry.key, segment.days)
      return { ...entry, key, at: rel(entry.at), endedAt: entry.endedAt === undefined ? undefined : rel(entry.endedAt) }
    })
    const reference = referenceAt(rel(Date.now()))
    return {
      schedule,
      startedAt: 0,
      jobs,
      cleanRuns,
      faults: applied,
      initialTodos: versions.map((version) => version.todo),
      versions,
      finalTodos,
      poison: new Set(),
      ledger,
      journal,
      hung,
      waits,
      reference,
      referenceAt
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await Promise.all(proxies.map((proxy) => proxy?.close()))
    await query(postgres.url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined)
  }
}
