/**
 * Events a second over about the last second: counted in quarters of a second (the four before
 * the current one, and the current one so far), one increment an event, no allocation, so a run
 * can count every accepted answer at no cost worth measuring. Plain arithmetic, no Effect.
 */
const quarterMs = 250
const slots = 5

export interface RateMeter {
  /** An event at `now` (epoch ms, never before the last one's). */
  readonly add: (now: number) => void
  /**
   * Events a second over the four quarters before `now`'s and `now`'s own so far (or since the
   * first event, when that is nearer; `atLeastMs` at least, a quarter of a second unless said: over
   * a longer span, a burst at the start counts less as a rate than over its own few milliseconds).
   */
  readonly perSecond: (now: number, atLeastMs?: number) => number
}

export const makeRateMeter = (): RateMeter => {
  const counts = new Array<number>(slots).fill(0)
  let current = -Infinity
  let first = Infinity
  // Moves to the quarter of `now`, emptying the quarters passed.
  const roll = (now: number) => {
    const quarter = Math.floor(now / quarterMs)
    if (quarter === current) return
    for (let q = Math.max(current + 1, quarter - slots + 1); q <= quarter; q++) counts[q % slots] = 0
    current = quarter
  }
  // Events and the time they were counted over.
  const counted = (now: number) => {
    roll(now)
    let sum = 0
    for (const count of counts) sum += count
    const span = Math.min((slots - 1) * quarterMs + (now - current * quarterMs), now - first)
    return { sum, span }
  }
  return {
    add: (now) => {
      if (first === Infinity) first = now
      roll(now)
      counts[current % slots]!++
    },
    perSecond: (now, atLeastMs = quarterMs) => {
      const { span, sum } = counted(now)
      return (sum * 1000) / Math.max(atLeastMs, span)
    }
  }
}
