/**
 * The campaign's checker: the invariants of the job's guarantees, over what a round recorded
 * (the fake's journal of every request, the ledger and the todos table at the end, each process's
 * life, exit and summary, and the faults as applied). A round passes only when none is broken.
 */
import { addDays, type AppliedFault, keyOf, type JobRecord, type RoundHistory } from "./Round.js"
import { databaseFaults, type FaultKind, retryDelayMs, serviceFaults } from "./Schedule.js"

/** After a stop signal: the grace period, then at most this for the last writes and the exit. */
const afterGraceMs = 10_000
/** A process that lost its database ends within this (the job's promise at default settings). */
const databaseLostMs = 60_000
/** A run nothing stopped ends within this (the campaign's backlogs are small). */
const normalRunMs = 120_000
/** What the campaign's own timing may add to a bound: starting a process, reading its exit. */
const slackMs = 3_000
/** A window reads from this many days before the latest reference read completely (docs/design.md, "What a run reads"). */
const windowMarginDays = 2
/** The clean runs' lease (Round.ts). */
const cleanLeaseMs = 30_000
/**
 * The longest a todo handed back throttled waits: Retry-After's cap of 5 minutes, spread over up
 * to as much again (docs/design.md, "Retry-After, read strictly").
 */
const longestThrottledWaitMs = 2 * 5 * 60_000
/** The longest wait after a failure: --retry-delay doubled after each failure, at most 6 hours (docs/configuration.md). */
const failureWaitMs = (attempts: number) => (attempts === 0 ? 0 : Math.min(retryDelayMs * 2 ** (attempts - 1), 6 * 3_600_000))

/** A request the fake failed on purpose in a way the job may charge to its todo: not a throttled (429) answer. */
const chargeable = (entry: RoundHistory["journal"][number]) => entry.injected !== undefined && entry.status !== 429

/**
 * Where a fault on one process landed: in its read (before its first request to the notify
 * service, which comes once the todos are read and the first claimed) or in its sends; undefined
 * when it hit none.
 */
export const faultPhase = (applied: AppliedFault, history: RoundHistory): "read" | "sends" | undefined => {
  if (applied.fault.target === undefined || applied.targets.length === 0) return undefined
  const client = [...history.jobs, ...history.cleanRuns].find((job) => job.index === applied.fault.target)?.client
  const first = history.journal.find((entry) => entry.client === client)
  return first === undefined || first.at > applied.at ? "read" : "sends"
}

/**
 * Whether a fault as applied hit anything: a process alive to take it, rows of the table to
 * change, requests that the fake failed on purpose within its window (a token's expiry: 401s up to
 * a token's lifetime after it), a process whose credentials were refused (one alive in the window,
 * started in it too). One that hit nothing is
 * reported as such, and explains nothing.
 */
export const faultHit = (applied: AppliedFault, history: RoundHistory): boolean => {
  const kind = applied.fault.kind
  const until = applied.until ?? applied.at
  switch (kind) {
    case "todos-deleted":
    case "todos-moved":
      return (applied.rows ?? 0) > 0
    case "secret-rejected":
      // Any process that asked for a token within the window (one started in it too) and was refused.
      return history.jobs.some((job) => job.code === 5 && job.startedAt <= until && (job.endedAt ?? Infinity) >= applied.at)
    case "token-expiry":
      return history.journal.some((entry) => entry.injected === "401" && entry.at >= applied.at && entry.at <= until + 2_000)
    default:
      return kind.startsWith("notify-")
        ? history.journal.some((entry) => entry.at >= applied.at && entry.at <= until && (entry.injected !== undefined || entry.status === 429))
        : applied.targets.length > 0
  }
}

export interface Verdict {
  readonly violations: ReadonlyArray<string>
  /** Invariants checked (one per todo, key, process and row checked). */
  readonly checks: number
  /** Keys that reached the notify service from more than one process, each where a holder was faulted. */
  readonly resentAcrossProcesses: number
  /** Requests a process sent again for a key within its own send (after a failure, a timeout, an answer it could not read). */
  readonly resentWithinProcess: number
}


export const check = (history: RoundHistory): Verdict => {
  const violations: Array<string> = []
  let checks = 0
  const fail = (message: string) => violations.push(message)
  const expect = (holds: boolean, message: () => string) => {
    checks++
    if (!holds) fail(message())
  }

  const { journal, reference } = history
  const faultsOn = (index: number, kinds: ReadonlyArray<FaultKind>) =>
    history.faults.filter((applied) => kinds.includes(applied.fault.kind) && applied.targets.includes(index))
  const leaseMs = (job: JobRecord) => (job.spec?.leaseSeconds ?? 30) * 1000
  const byClient = new Map([...history.jobs, ...history.cleanRuns].map((job) => [job.client, job]))

  // 1. Every todo still due was created at the fake exactly once per key; nothing else more than once.
  const created = new Map<string, number>()
  for (const entry of journal) {
    if (entry.created && entry.key !== undefined) created.set(entry.key, (created.get(entry.key) ?? 0) + 1)
  }
  const stillDue = new Set<string>()
  for (const todo of history.finalTodos) {
    if (todo.dueDate > reference) continue
    const key = keyOf(todo)
    stillDue.add(key)
    const times = created.get(key) ?? 0
    if (history.poison.has(todo.id)) {
      expect(times === 0, () => `${key}: refused by the service every time, yet created ${times} time(s)`)
    } else {
      expect(times === 1, () => `${key}: still due, created ${times} time(s) (exactly once expected)`)
    }
  }
  // 1b. What was created went to its todo's workspace, with that todo's message (the seed's
  //     wording), and only once the todo was due at the round's reference.
  for (const entry of journal) {
    if (!entry.created || entry.key === undefined) continue
    const [, workspaceId, id, dueDate] = entry.key.split(":")
    expect(entry.workspaceId === workspaceId, () => `${entry.key}: created for workspace ${entry.workspaceId}`)
    expect(entry.message === `Todo ${id} is delayed`, () => `${entry.key}: created with the message ${JSON.stringify(entry.message)}`)
    const then = history.referenceAt(entry.at)
    expect(dueDate !== undefined && dueDate <= then, () => `${entry.key}: created before its due date (the reference was ${then})`)
  }
  const everKeys = new Set(history.initialTodos.map(keyOf))
  for (const [key, times] of created) {
    if (stillDue.has(key)) continue
    expect(everKeys.has(key), () => `${key}: created, but no such todo was ever in the table`)
    expect(times <= 1, () => `${key}: deleted or moved, created ${times} times`)
  }

  // 2. A key reached the fake from a second process only where the first holder was killed, cut off
  //    or stopped after sending it; and no process sent anything once its claims could have lapsed.
  const lastLegitimateSend = (job: JobRecord): number => {
    let bound = Number.POSITIVE_INFINITY
    for (const applied of faultsOn(job.index, ["kill"])) bound = Math.min(bound, applied.at)
    for (const applied of faultsOn(job.index, ["term"])) bound = Math.min(bound, applied.at + (job.spec?.graceSeconds ?? 0) * 1000)
    // Half-open, the database is gone for good for that process (a cut or a restart it may survive,
    // on new connections, and go on under claims it renews).
    for (const applied of faultsOn(job.index, ["db-half-open"])) bound = Math.min(bound, applied.at + leaseMs(job))
    return bound
  }
  /**
   * Whether another process could have taken over `job`'s claims by `time`: only once `job` was
   * killed, stopped or cut off, and its claims had lapsed. A live run renews every quarter of its
   * lease, so its claims outlast a fault by three quarters of the lease at least; half is allowed.
   * The clean runs come after every claim was let lapse (time passed): any fault will do.
   */
  const couldTakeOver = (job: JobRecord, by: string | undefined, time: number) =>
    faultsOn(job.index, ["kill", "term", ...databaseFaults]).some((applied) =>
      by?.startsWith("clean-") === true || applied.at + leaseMs(job) / 2 <= time
    )
  const perKey = new Map<string, Array<(typeof journal)[number]>>()
  for (const entry of journal) {
    if (entry.key === undefined) continue
    const list = perKey.get(entry.key)
    if (list === undefined) perKey.set(entry.key, [entry])
    else list.push(entry)
  }
  let resentAcrossProcesses = 0
  let resentWithinProcess = 0
  for (const job of history.jobs) {
    const bound = lastLegitimateSend(job)
    if (bound === Number.POSITIVE_INFINITY) continue
    const late = journal.filter((entry) => entry.client === job.client && entry.at > bound + 250)
    expect(late.length === 0, () =>
      `job ${job.index} sent ${late.length} request(s) after its claims could have lapsed or it was stopped ` +
      `(first ${late[0]!.key} ${late[0]!.at - bound} ms late)`)
  }
  for (const [key, entries] of perKey) {
    const resent = new Set<string>()
    for (let i = 1; i < entries.length; i++) {
      const earlier = entries[i - 1]!
      const later = entries[i]!
      const clean = earlier.answered && earlier.injected === undefined && earlier.status !== undefined &&
        earlier.status >= 200 && earlier.status < 300
      if (earlier.client === later.client) {
        // Within a send, only after an answer the process did not get whole, or a failure.
        resentWithinProcess++
        expect(!clean, () => `${key}: sent again by ${later.client} ${later.at - earlier.at} ms after its clean ${earlier.status} answer`)
        continue
      }
      checks++
      resent.add(key)
      if (!clean) continue
      const holder = byClient.get(earlier.client ?? "")
      if (holder === undefined || !couldTakeOver(holder, later.client, later.at)) {
        fail(`${key}: sent by ${earlier.client} and answered, then sent again by ${later.client} ` +
          `${later.at - earlier.at} ms later, though ${earlier.client}'s claim could not have lapsed by then`)
      }
    }
    resentAcrossProcesses += resent.size
  }

  // 3. The ledger: nothing pending or claimed is left; each dead letter comes from an injected failure.
  const injectedFor = new Set(journal.filter((entry) => entry.injected !== undefined).map((entry) => entry.key))
  for (const row of history.ledger) {
    const key = keyOf(row)
    expect(!row.claimed, () => `${key}: still claimed after the clean runs`)
    expect(row.state === "sent" || row.state === "dead", () => `${key}: left ${row.state} after the clean runs`)
    if (row.state === "dead") {
      expect(history.poison.has(row.id) || injectedFor.has(key), () => `${key}: a dead letter with no injected failure`)
    }
  }
  for (const id of history.poison) {
    const row = history.ledger.find((r) => r.id === id)
    const todo = history.finalTodos.find((t) => t.id === id)
    if (todo === undefined || todo.dueDate > reference) continue
    expect(row?.state === "dead", () => `poison todo ${id}: ${row?.state ?? "not in the ledger"}, a dead letter expected`)
  }

  // 3b. Accounting: no attempt charged for throttling (each charged try had a failure injected
  //     for its key); each todo a process logged as not sent had a failure injected for it, from
  //     that process, and the log names as many as its summary counts.
  const chargedFor = new Map<string, number>()
  for (const entry of journal) if (entry.key !== undefined && chargeable(entry)) chargedFor.set(entry.key, (chargedFor.get(entry.key) ?? 0) + 1)
  for (const row of history.ledger) {
    const key = keyOf(row)
    // A sent row's attempts count the try that went through too.
    const failedTries = row.attempts - (row.state === "sent" ? 1 : 0)
    expect(failedTries <= (chargedFor.get(key) ?? 0), () =>
      `${key}: ${failedTries} failed tr(ies) charged, ${chargedFor.get(key) ?? 0} failure(s) injected (a throttled answer charges none)`)
  }
  for (const job of [...history.jobs, ...history.cleanRuns]) {
    for (const id of new Set(job.failedTodos)) {
      expect(journal.some((entry) => entry.client === job.client && chargeable(entry) && entry.key?.split(":")[2] === id), () =>
        `${job.client} logged todo ${id} as not sent, with no failure injected for it`)
    }
    if (job.summary === undefined) continue
    const counted = Number(job.summary.failed ?? 0) + Number(job.summary.deadLetters ?? 0)
    expect(job.failedTodos.length === counted, () =>
      `${job.client}: its summary counts ${counted} failed, its log names ${job.failedTodos.length}`)
  }

  // 3c. Liveness: what the job left waiting when the faults were healed, it set within its
  //     documented bounds (a claim: the longest lease; a next try: the failure's wait, or a
  //     throttled one's); the round then lets that much time pass (Round.ts), and the clean runs
  //     must leave nothing pending (3).
  const longestLeaseMs = Math.max(cleanLeaseMs, ...history.jobs.map(leaseMs))
  for (const wait of history.waits) {
    expect(wait.claimLeftMs === null || wait.claimLeftMs <= longestLeaseMs + slackMs, () =>
      `${wait.key}: claimed for ${Math.round(wait.claimLeftMs! / 1000)} s more before clean run ${wait.beforeRun}, past the longest lease (${longestLeaseMs / 1000} s)`)
    const bound = Math.max(failureWaitMs(wait.attempts), longestThrottledWaitMs)
    expect(wait.retryLeftMs <= bound + slackMs, () =>
      `${wait.key}: next try ${Math.round(wait.retryLeftMs / 1000)} s away before clean run ${wait.beforeRun} (${wait.attempts} attempt(s)), past its bound of ${bound / 1000} s`)
  }

  // 3d. In a round where days pass, what a read covers is sent by the run that read it (docs/design.md,
  //     "What a run reads"): after a run that exited 0 with its read recorded, every todo the table
  //     held when it started, due within its read, was created by its end (unless a dead letter).
  //     A full pass covers every todo due by its reference, a replay every one due by its `--at`, a
  //     window those due from two days before the latest reference read completely (a full pass's or
  //     a window's, not a replay's) up to its own.
  if (history.versions !== undefined) {
    const createdBy = new Map<string, number>()
    for (const entry of journal) if (entry.created && entry.key !== undefined) createdBy.set(entry.key, entry.at)
    const dead = new Set(history.ledger.filter((row) => row.state === "dead").map(keyOf))
    let latestComplete: string | undefined
    const reads = [...history.jobs, ...history.cleanRuns].sort((a, b) => a.startedAt - b.startedAt)
    for (const job of reads) {
      const pass = job.pass
      if (pass === undefined) continue
      const since = pass.kind === "window" && latestComplete !== undefined ? addDays(latestComplete, -windowMarginDays) : undefined
      if (pass.kind !== "replay" && (latestComplete === undefined || pass.reference > latestComplete)) latestComplete = pass.reference
      if (job.code !== 0) continue
      for (const version of history.versions) {
        const { todo } = version
        const held = version.from <= job.startedAt && (version.until === undefined || version.until > job.startedAt)
        if (!held || todo.dueDate > pass.reference || (since !== undefined && todo.dueDate < since) || dead.has(keyOf(todo))) continue
        const key = keyOf(todo)
        const at = createdBy.get(key)
        expect(at !== undefined && at <= job.endedAt!, () =>
          `${key}: due within the ${pass.kind} read by ${job.client} (to ${pass.reference}${since === undefined ? "" : `, from ${since}`}), ` +
          `which exited 0, yet ${at === undefined ? "never created" : `created ${Math.round((at - job.endedAt!) / 1000)} s after it ended`}`)
      }
    }
  }

  // 4. Every process ended within its bound; 5. its exit code says what happened to it.
  expect(history.hung.length === 0, () => `job(s) ${history.hung.join(", ")} still running ${normalRunMs / 1000} s after the chaos`)
  for (const job of history.jobs) {
    const ended = job.endedAt ?? Number.POSITIVE_INFINITY
    const term = faultsOn(job.index, ["term"])[0]
    const lost = faultsOn(job.index, databaseFaults)[0]
    const bound = Math.min(
      term === undefined ? Infinity : term.at + (job.spec?.graceSeconds ?? 0) * 1000 + afterGraceMs,
      lost === undefined ? Infinity : (lost.until ?? lost.at) + databaseLostMs,
      job.startedAt + normalRunMs
    )
    expect(ended <= bound + slackMs, () =>
      `job ${job.index} ended ${Math.round((ended - bound) / 1000)} s past its bound ` +
      `(${term !== undefined ? "stopped" : lost !== undefined ? "lost its database" : "a normal run"})`)
    expect(exitExplained(job, history), () =>
      `job ${job.index} exited ${job.code ?? job.signal}: not what happened to it ` +
      `(summary ${JSON.stringify(pick(job.summary))}; errors: ${job.errors.slice(0, 3).join(" | ")})`)
  }
  for (const run of history.cleanRuns) {
    expect(run.code === 0 || run.code === 3, () => `clean run ${run.index} exited ${run.code ?? run.signal}: ${run.errors.slice(0, 3).join(" | ")}`)
    if (run.code === 3) {
      expect(run.failedTodos.length > 0, () => `clean run ${run.index} exited 3, naming no todo it could not send`)
    }
  }
  return { violations, checks, resentAcrossProcesses, resentWithinProcess }
}

const pick = (summary: Record<string, unknown> | undefined) =>
  summary === undefined
    ? undefined
    : Object.fromEntries(["sent", "failed", "deadLetters", "skipped", "unrecorded"].map((k) => [k, summary[k]]))

/** Whether a process's exit code (or signal) matches what happened to it and what its summary says. */
const exitExplained = (job: JobRecord, history: RoundHistory): boolean => {
  const during = (kinds: ReadonlyArray<FaultKind>) =>
    history.faults.some((applied) =>
      kinds.includes(applied.fault.kind) && faultHit(applied, history) &&
      (applied.targets.includes(job.index) ||
        (applied.fault.target === undefined && applied.at <= (job.endedAt ?? Infinity) && (applied.until ?? applied.at) >= job.startedAt))
    )
  const summary = job.summary
  const count = (name: string) => Number(summary?.[name] ?? 0)
  const failedSome = count("failed") + count("deadLetters") + count("skipped") > 0
  if (job.signal === "SIGKILL") return during(["kill"])
  // A SIGTERM before the job is up (its handler not yet installed) ends it by the signal: 143 to
  // a shell or a container, as the job's own exit after a SIGTERM is.
  if (job.signal === "SIGTERM") return during(["term"])
  switch (job.code) {
    case 0:
      return summary !== undefined && !failedSome && count("unrecorded") === 0
    case 1:
      return during(databaseFaults)
    case 3:
      // Each todo it names was failed on purpose (checked in 3b).
      return summary !== undefined && failedSome && job.failedTodos.length > 0
    case 4:
      return job.errors.some((line) => line.startsWith("The notify service looks down")) && during(serviceFaults)
    case 5:
      return during(["secret-rejected"])
    case 143:
      return during(["term"])
    default:
      return false
  }
}
