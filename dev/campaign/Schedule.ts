/**
 * A round of the fault campaign, drawn from its seed alone: the backlog, the job processes (when
 * each starts, with which options) and the faults (what, when, to whom, for how long).
 */
import { random } from "./Random.js"

/** What the campaign does to a round, each at a moment of its own. */
export const faultKinds = [
  // To one job process.
  "kill",
  "term",
  "db-cut",
  "db-half-open",
  // To every process at once.
  "pg-restart",
  // The notify service, for a while.
  "notify-5xx",
  "notify-429",
  "notify-429-bare",
  "notify-hang",
  "notify-trickle",
  "notify-reset",
  "notify-huge",
  // The auth service, for a while.
  "token-expiry",
  "secret-rejected",
  // The todos table, while runs go on.
  "todos-deleted",
  "todos-moved"
] as const
export type FaultKind = (typeof faultKinds)[number]

/** Faults that act on one job process. */
export const processFaults: ReadonlyArray<FaultKind> = ["kill", "term", "db-cut", "db-half-open"]

/** Faults that cut a process off from its database. */
export const databaseFaults: ReadonlyArray<FaultKind> = ["db-cut", "db-half-open", "pg-restart"]

/** Windows of misbehaving services that a run may count as failed sends (all but a refused secret). */
export const serviceFaults: ReadonlyArray<FaultKind> = faultKinds.filter((kind) => kind.startsWith("notify-") || kind === "token-expiry")

export interface Fault {
  readonly kind: FaultKind
  /** Milliseconds from the round's start. */
  readonly at: number
  /** The job process (index) it acts on, for a process fault. */
  readonly target?: number
  /** How long it lasts, for a fault of a service (a window) or a restart. */
  readonly forMs?: number
}

export interface JobSpec {
  /** Milliseconds from the round's start. */
  readonly at: number
  readonly concurrency: number
  readonly batchSize: number
  /** The lease, in seconds (8 s is the shortest the campaign's send settings allow). */
  readonly leaseSeconds: number
  readonly rate: number | undefined
  readonly fair: boolean
  readonly graceSeconds: number
}

export interface Schedule {
  readonly seed: number
  readonly todos: number
  readonly workspaces: number
  /** Todos that the notify service always refuses (422): they must end as dead letters. */
  readonly poison: number
  /** The notify service's latency for its answers, in milliseconds. */
  readonly latencyMs: number
  /** How long faults are drawn over, from the start. */
  readonly chaosMs: number
  readonly jobs: ReadonlyArray<JobSpec>
  readonly faults: ReadonlyArray<Fault>
}

/**
 * The job's send settings in every round: a request's deadline of 500 ms and one retry, so a send
 * takes at most 4.5 s and a lease of 8 s is accepted. Answers come within tens of milliseconds.
 */
export const sendSettings = {
  NOTIFY_TIMEOUT: "500ms",
  NOTIFY_RETRIES: "1",
  NOTIFY_RETRY_BASE: "50ms",
  NOTIFY_RETRY_BUDGET: "500ms",
  RETRY_DELAY: "1s",
  MAX_ATTEMPTS: "4"
} as const
/** RETRY_DELAY in ms: the wait after a first failure, doubled after each (docs/configuration.md). */
export const retryDelayMs = 1000

export const maxAttempts = Number(sendSettings.MAX_ATTEMPTS)

/** The shortest lease the send settings allow, rounded up to a whole second. */
export const shortestLeaseSeconds = 8

/** Notifications a second a job can send at most, by its options and the service's latency (a rough bound). */
const throughputOf = (job: JobSpec, latencyMs: number) =>
  Math.min(job.rate ?? Number.POSITIVE_INFINITY, (job.concurrency * 1000) / (latencyMs + 5))

export const makeSchedule = (seed: number): Schedule => {
  const draw = random(seed)
  const chaosMs = draw.int(8_000, 16_000)
  // Answers fast, or slow enough that batches outlast short leases.
  const latencyMs = draw.chance(0.6) ? draw.int(2, 20) : draw.int(40, 150)
  // In a third of the rounds the first job holds its batches longer than its lease (a slow rate,
  // large batches, the shortest lease) while others run: its claims stay its own only as long as
  // it renews them.
  const contended = draw.chance(0.35)
  const jobCount = contended ? draw.int(2, 4) : draw.int(1, 4)
  const jobs = Array.from({ length: jobCount }, (_, i): JobSpec =>
    contended && i === 0
      ? {
        at: 0,
        concurrency: draw.pick([1, 2, 4]),
        batchSize: draw.pick([50, 200]),
        leaseSeconds: shortestLeaseSeconds,
        rate: draw.pick([5, 10]),
        fair: draw.chance(0.3),
        graceSeconds: draw.pick([2, 5])
      }
      : {
        at: i === 0 ? 0 : draw.int(0, Math.round(chaosMs * 0.6)),
        concurrency: draw.pick([1, 2, 4, 16, 32, 64]),
        batchSize: draw.pick([5, 20, 50, 200]),
        leaseSeconds: draw.pick([shortestLeaseSeconds, shortestLeaseSeconds, 12, 30]),
        rate: draw.chance(0.4) ? draw.pick([5, 10, 20, 50, 100]) : undefined,
        fair: draw.chance(0.3),
        graceSeconds: draw.pick([2, 5])
      }
  )
  const faults = Array.from({ length: draw.int(1, 4) }, (): Fault => {
    const kind = draw.pick(faultKinds)
    const at = draw.int(300, chaosMs)
    return processFaults.includes(kind)
      ? { kind, at, target: draw.int(0, jobCount - 1) }
      : { kind, at, forMs: draw.int(1_000, 4_000) }
  }).sort((a, b) => a.at - b.at)
  // About as much as the jobs send while the faults go on, and never more than the fastest
  // alone sends in 40 s: the runs end soon after the chaos.
  const all = jobs.reduce((sum, job) => sum + throughputOf(job, latencyMs), 0)
  const fastest = Math.max(...jobs.map((job) => throughputOf(job, latencyMs)))
  const todos = Math.round(Math.max(100, Math.min(3_000, fastest * 40, all * (chaosMs / 1000) * (0.6 + draw.next() * 0.6))))
  return {
    seed,
    todos,
    workspaces: draw.int(1, 40),
    poison: draw.int(0, 3),
    latencyMs,
    chaosMs,
    jobs,
    faults
  }
}

/** The schedule on a few lines, for a failing round's report. */
export const describeSchedule = (schedule: Schedule): string =>
  [
    `seed ${schedule.seed}: ${schedule.todos} todos in ${schedule.workspaces} workspaces, ${schedule.poison} refused, ` +
    `answers after ${schedule.latencyMs} ms, faults over ${schedule.chaosMs} ms`,
    ...schedule.jobs.map((job, i) =>
      `  job ${i} at ${job.at} ms: --concurrency ${job.concurrency} --batch-size ${job.batchSize} --lease ${job.leaseSeconds}s` +
      `${job.rate === undefined ? "" : ` --rate ${job.rate}`}${job.fair ? " --fair" : ""} --grace ${job.graceSeconds}s`
    ),
    ...schedule.faults.map((fault) =>
      `  ${fault.kind} at ${fault.at} ms${fault.target === undefined ? "" : ` on job ${fault.target}`}` +
      `${fault.forMs === undefined ? "" : ` for ${fault.forMs} ms`}`
    )
  ].join("\n")

/** The faults a run of a round where days pass may meet (at a moment from its start: in its read, or in its sends). */
export const dayFaultKinds = ["kill", "term", "db-cut", "notify-5xx", "notify-429"] as const

/** One cron run of a simulated day. */
export interface DayRun {
  /** `--at` a date before the day (a replay, a full pass recorded as one), instead of `--now`. */
  readonly replayDaysBack: number | undefined
  readonly concurrency: number
  readonly fault: { readonly kind: (typeof dayFaultKinds)[number]; readonly atMs: number } | undefined
}

/** What a simulated day brings to the todos table before its runs, and its runs. */
export interface DayPlan {
  /** New todos due that day, due 1 to 10 days before it (backdated: past the window's margin, some), or 1 to 3 days after it. */
  readonly dueToday: number
  readonly backdated: number
  readonly ahead: number
  /** Todos of the table moved 1 to 5 days earlier or later, and deleted. */
  readonly moved: number
  readonly deleted: number
  readonly runs: ReadonlyArray<DayRun>
}

/**
 * A round where days pass (docs/development.md, "Rounds where days pass"): cron runs with `--now`
 * over simulated days, the table with its index on "dueDate" or without it, windows between full
 * passes, replays among them, todos added, backdated, moved and deleted as the days go, and faults
 * within the runs' reads as well as their sends. Drawn from its own stream of the seed, so that
 * the other rounds' schedules stay as they were; about one round in three.
 */
export interface DaysPlan {
  readonly days: number
  readonly index: boolean
  /** `--full-pass-every` (the days pass 24 h at a time, and a run every 5 minutes within one). */
  readonly fullPassEvery: "12h" | "2d" | "3d"
  /** Todos already in the table: due over the 60 days before the first day, and far ahead (to make a full pass long against a window). */
  readonly past: number
  readonly farAhead: number
  readonly workspaces: number
  readonly latencyMs: number
  readonly perDay: ReadonlyArray<DayPlan>
}

export const makeDaysPlan = (seed: number): DaysPlan | undefined => {
  const draw = random(seed ^ 0xd0d)
  if (!draw.chance(0.3)) return undefined
  const days = draw.int(3, 5)
  return {
    days,
    index: draw.chance(0.7),
    fullPassEvery: draw.pick(["12h", "2d", "3d"] as const),
    past: draw.int(200, 1_500),
    farAhead: draw.pick([0, 20_000, 60_000]),
    workspaces: draw.int(1, 30),
    latencyMs: draw.int(2, 20),
    perDay: Array.from({ length: days }, (): DayPlan => ({
      dueToday: draw.int(0, 60),
      backdated: draw.int(0, 30),
      ahead: draw.int(0, 30),
      moved: draw.int(0, 20),
      deleted: draw.int(0, 10),
      runs: Array.from({ length: draw.int(1, 3) }, (): DayRun => ({
        replayDaysBack: draw.chance(0.15) ? draw.int(1, 20) : undefined,
        concurrency: draw.pick([1, 4, 16, 64]),
        fault: draw.chance(0.4) ? { kind: draw.pick(dayFaultKinds), atMs: draw.int(0, 1_500) } : undefined
      }))
    }))
  }
}

/** A round where days pass, on a few lines. */
export const describeDays = (plan: DaysPlan): string =>
  [
    `${plan.days} days, ${plan.index ? "with" : "without"} the index, --full-pass-every ${plan.fullPassEvery}, ` +
    `${plan.past} todos due before, ${plan.farAhead} far ahead, ${plan.workspaces} workspaces, answers after ${plan.latencyMs} ms`,
    ...plan.perDay.map((day, i) =>
      `  day ${i}: ${day.dueToday} due that day, ${day.backdated} backdated, ${day.ahead} ahead, ${day.moved} moved, ${day.deleted} deleted; runs: ` +
      day.runs.map((run) =>
        `${run.replayDaysBack === undefined ? "--now" : `--at ${run.replayDaysBack} days back`} --concurrency ${run.concurrency}` +
        `${run.fault === undefined ? "" : ` (${run.fault.kind} at ${run.fault.atMs} ms)`}`
      ).join("; ")
    )
  ].join("\n")
