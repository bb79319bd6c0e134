/**
 * A run against a scenario's service, held to a band of the scenario (its `expect` in the suite,
 * its `targets` in the benchmark): each bound that does not hold, as a line. The expected values
 * come from the scenario (ServiceModel.capacityOf), never from the job.
 */
import type { ScenarioStats } from "./ScenarioServer.js"
import { capacityOf, type Expected, type Scenario } from "./ServiceModel.js"

/** What a run did, as the scenario's band reads it. */
export interface Observed {
  readonly exit: number | null
  readonly sent: number
  readonly delayed: number
  readonly charged: number
  readonly stats: ScenarioStats
}

export const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? 0 : sorted[sorted.length >> 1]!
}
export const mostInASecond = (times: ReadonlyArray<number>) => {
  let most = 0
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && times[j]! < times[i]! + 1000) j++
    most = Math.max(most, j - i)
  }
  return most
}

/**
 * Notifications created a second, from the first to the last. Of a service that loses one request
 * in N, the todos whose request was lost wait for the client's timeout whatever it does: the rate
 * is of the others (all but twice that share of the notifications).
 */
export const throughput = (scenario: Scenario, stats: ScenarioStats): number => {
  const lose = scenario.service.loseEvery ?? 0
  const counted = lose > 0 ? Math.floor(stats.createdAt.length * (1 - 2 / lose)) : stats.createdAt.length
  const seconds = counted < 2 ? 0 : (stats.createdAt[counted - 1]! - stats.createdAt[0]!) / 1000
  return seconds > 0 ? (counted - 1) / seconds : 0
}

/** Each bound of `band` that does not hold, as a line naming the bound, what was seen and what was due. */
export const missed = (scenario: Scenario, band: Expected, observed: Observed, workspaces: number): ReadonlyArray<string> => {
  const { stats } = observed
  const out: Array<string> = []
  const check = (ok: boolean, what: string) => void (ok || out.push(what))
  if (band.exit !== undefined) check(observed.exit === band.exit, `exit ${observed.exit}, expected ${band.exit}`)
  if (band.allSent === true) {
    check(stats.notifications === observed.delayed, `${stats.notifications} notifications of ${observed.delayed} delayed todos`)
  }
  // Exactly once: never a second creation attempt for a key already created... unless a lost answer (none here).
  check(stats.duplicates === 0, `${stats.duplicates} requests for notifications already created`)
  if (band.charged !== undefined) check(observed.charged <= band.charged, `${observed.charged} attempts charged, at most ${band.charged}`)
  if (band.throughputAtLeast !== undefined) {
    const capacity = capacityOf(scenario, workspaces)
    const rate = throughput(scenario, stats)
    check(rate >= band.throughputAtLeast * capacity, `${rate.toFixed(0)}/s, under ${band.throughputAtLeast} of ${capacity.toFixed(0)}/s`)
  }
  if (band.refusedShareAtMost !== undefined) {
    const share = stats.requests === 0 ? 0 : stats.refused / stats.requests
    check(share <= band.refusedShareAtMost, `${(share * 100).toFixed(2)} % refused, at most ${band.refusedShareAtMost * 100} %`)
  }
  if (band.refusedPerSecondAtMost !== undefined) {
    const most = mostInASecond(stats.refusedAt)
    check(most <= band.refusedPerSecondAtMost, `${most} refused in one second, at most ${band.refusedPerSecondAtMost}`)
  }
  if (band.inFlightAtMost !== undefined) check(stats.mostInFlight <= band.inFlightAtMost, `${stats.mostInFlight} in flight, at most ${band.inFlightAtMost}`)
  if (band.mostInFlightAtLeast !== undefined) {
    check(stats.mostInFlight >= band.mostInFlightAtLeast, `${stats.mostInFlight} in flight at most, expected ${band.mostInFlightAtLeast} at least`)
  }
  if (band.medianAtMostTimes !== undefined) {
    const typical = median(stats.servedMs.slice(Math.floor(stats.servedMs.length / 4)))
    const own = scenario.service.latencyMs + (scenario.service.jitterMs ?? 0) / 2
    check(typical <= band.medianAtMostTimes * own, `median ${typical.toFixed(0)} ms, at most ${band.medianAtMostTimes} x ${own} ms`)
  }
  return out
}

