/**
 * `npm run campaign`: the seeded fault campaign against the built job (see docs/development.md, "The fault
 * campaign"). Each round's schedule comes from its seed alone; a failing round prints its seed,
 * its schedule and the command that replays it, and the campaign exits 1.
 *
 *   npm run campaign -- --rounds 200            200 rounds from a random base seed (printed)
 *   npm run campaign -- --rounds 20 --seed 7    20 rounds from base seed 7
 *   npm run campaign -- --seeds 11,42,1234      these rounds' seeds
 *   npm run campaign -- --replay 1234           one round, again
 *   --keep-going                                run every round, failing or not
 *   --json FILE                                 the figures as JSON
 */
import { writeFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { startEmbeddedPostgres } from "../embeddedPostgres.js"
import { check, faultHit, faultPhase } from "./Check.js"
import { roundSeed } from "./Random.js"
import { runDaysRound } from "./Days.js"
import { runRound } from "./Round.js"
import { describeDays, describeSchedule, type FaultKind, makeDaysPlan, makeSchedule } from "./Schedule.js"

const { values } = parseArgs({
  options: {
    rounds: { type: "string" },
    seed: { type: "string" },
    seeds: { type: "string" },
    replay: { type: "string" },
    "keep-going": { type: "boolean", default: false },
    json: { type: "string" }
  }
})

const parseSeed = (text: string): number => {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    console.error(`Not a seed (an integer from 0 to 4294967295): ${text}`)
    process.exit(2)
  }
  return n
}

const baseSeed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : parseSeed(values.seed)
const seeds = values.replay !== undefined
  ? [parseSeed(values.replay)]
  : values.seeds !== undefined
  ? values.seeds.split(",").map((s) => parseSeed(s.trim()))
  : Array.from({ length: Number(values.rounds ?? 10) }, (_, i) => roundSeed(baseSeed, i))

if (values.replay === undefined && values.seeds === undefined) {
  console.log(`Campaign: ${seeds.length} rounds from base seed ${baseSeed} (npm run campaign -- --rounds ${seeds.length} --seed ${baseSeed})`)
} else {
  console.log(`Campaign: ${seeds.length} round(s): seeds ${seeds.join(", ")}`)
}

const postgres = await startEmbeddedPostgres({ postgresFlags: ["-c", "max_connections=300", "-c", "fsync=off"] })
const started = Date.now()
const totals = {
  rounds: 0,
  failed: 0,
  jobProcesses: 0,
  faults: {} as Partial<Record<FaultKind, number>>,
  /** Of those, the ones that hit nothing (no process alive, no request in the window, no row). */
  missed: {} as Partial<Record<FaultKind, number>>,
  /** Faults on one process that landed in its read (before its first request), or in its sends. */
  inRead: 0,
  inSends: 0,
  daysRounds: 0,
  checks: 0,
  todos: 0,
  requests: 0,
  resentAcrossProcesses: 0,
  resentWithinProcess: 0
}
const failures: Array<{ seed: number; violations: ReadonlyArray<string> }> = []
try {
  for (const [i, seed] of seeds.entries()) {
    // About one round in three lets days pass (its plan from its own stream of the seed).
    const days = makeDaysPlan(seed)
    const schedule = days === undefined ? makeSchedule(seed) : { ...makeSchedule(seed), latencyMs: days.latencyMs, poison: 0, jobs: [], faults: [] }
    const roundStart = Date.now()
    const history = days === undefined ? await runRound(schedule, postgres) : await runDaysRound(schedule, days, postgres)
    const verdict = check(history)
    totals.rounds++
    if (days !== undefined) totals.daysRounds++
    totals.jobProcesses += history.jobs.length + history.cleanRuns.length
    for (const applied of history.faults) {
      const kind = applied.fault.kind
      if (faultHit(applied, history)) totals.faults[kind] = (totals.faults[kind] ?? 0) + 1
      else totals.missed[kind] = (totals.missed[kind] ?? 0) + 1
      const phase = faultPhase(applied, history)
      if (phase === "read") totals.inRead++
      if (phase === "sends") totals.inSends++
    }
    totals.checks += verdict.checks
    totals.todos += days === undefined ? schedule.todos : history.initialTodos.length
    totals.requests += history.journal.length
    totals.resentAcrossProcesses += verdict.resentAcrossProcesses
    totals.resentWithinProcess += verdict.resentWithinProcess
    const faults = history.faults.map((applied) => `${applied.fault.kind}${faultHit(applied, history) ? "" : " (hit nothing)"}`).join(", ")
    const line = `round ${i + 1}/${seeds.length} seed ${seed}${days === undefined ? "" : ` (${days.days} days pass)`}: ` +
      `${history.jobs.length} job(s), ${days === undefined ? schedule.todos : history.initialTodos.length} todos, ` +
      `faults [${faults}], ${verdict.checks} checks, ${history.journal.length} requests ` +
      `(${verdict.resentAcrossProcesses} keys resent by another process) in ${((Date.now() - roundStart) / 1000).toFixed(1)} s`
    if (verdict.violations.length === 0) {
      console.log(`${line}: ok`)
      continue
    }
    totals.failed++
    failures.push({ seed, violations: verdict.violations })
    console.log(`${line}: FAILED`)
    console.log(days === undefined ? describeSchedule(schedule) : describeDays(days))
    for (const violation of verdict.violations.slice(0, 20)) console.log(`  broken: ${violation}`)
    if (verdict.violations.length > 20) console.log(`  … and ${verdict.violations.length - 20} more`)
    for (const job of history.jobs) {
      console.log(`  job ${job.index}: exit ${job.code ?? job.signal} after ${(((job.endedAt ?? 0) - job.startedAt) / 1000).toFixed(1)} s; ` +
        `${job.errors.slice(0, 3).join(" | ")}`)
    }
    console.log(`  replay: npm run campaign -- --replay ${seed}`)
    if (!values["keep-going"]) break
  }
} finally {
  await postgres.stop()
}

const minutes = ((Date.now() - started) / 60_000).toFixed(1)
const faultCount = Object.values(totals.faults).reduce((a, b) => a + (b ?? 0), 0)
const missedCount = Object.values(totals.missed).reduce((a, b) => a + (b ?? 0), 0)
console.log(
  `Campaign: ${totals.rounds} rounds in ${minutes} min, ${totals.failed} failed; ${totals.jobProcesses} job processes, ` +
    `${faultCount} faults injected (and ${missedCount} that hit nothing), ${totals.checks} invariants checked, ${totals.requests} notify requests ` +
    `(${totals.resentAcrossProcesses} keys resent by another process after a fault, ${totals.resentWithinProcess} resent within a send)`
)
console.log(`Faults: ${Object.entries(totals.faults).map(([kind, n]) => `${kind} ${n}`).join(", ")}`)
console.log(`Hit nothing: ${Object.entries(totals.missed).map(([kind, n]) => `${kind} ${n}`).join(", ") || "none"}`)
console.log(`Rounds where days pass: ${totals.daysRounds}; faults on one process within its read ${totals.inRead}, within its sends ${totals.inSends}`)
if (values.json !== undefined) {
  writeFileSync(values.json, `${JSON.stringify({ baseSeed, seeds, minutes: Number(minutes), ...totals, failures }, null, 2)}\n`)
}
process.exit(totals.failed > 0 ? 1 : 0)
