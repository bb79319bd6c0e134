/**
 * A rate found from a service's refusals, for one workspace or for the whole client: plain
 * arithmetic on answers, no Effect (docs/design.md, "Limits per workspace").
 *
 * - Accepted answers are counted in two half-second windows: the rate the service accepts now is
 *   their count over the last second (or over the time since the first accepted answer, when that
 *   is less: a workspace's first burst).
 * - At a refusal the pace is set just under that rate (`under`), and remembered as the level the
 *   service refused at; a refusal while paced cuts the pace again (at most once per `cutEveryMs`),
 *   to the lower of a fifth off and just under the rate accepted now.
 * - Between refusals the pace grows: slowly for the first `quietMs` after one (a hundredth a
 *   second), then by a quarter a second, so that a limit that rose (or a share of the client's limit
 *   that others no longer use) is found again in seconds, and a limit that did not is met about
 *   once every few seconds. After `forgetAfterMs` without a refusal the pace is dropped: a limit
 *   met again is learned again, at the cost of one refusal.
 * - Sends are spaced by the pace: `admit` reserves each its place, now or later.
 */

const windowMs = 500
/** The shortest span a rate is counted over (a first answer alone is not a rate of thousands). */
const shortestSpanMs = 100
const under = 0.9
const cutBy = 0.8
const cutEveryMs = 500
const fastGrowth = 0.25
const slowGrowth = 0.01
const quietMs = 1_000
const forgetAfterMs = 4_000
/** The slowest pace: one request every two seconds. */
const slowestPerSecond = 0.5
/** An accepted answer this long ago says nothing of the rate now. */
const staleMs = 1000

/** One pace (see the module comment): a class, so that a workspace's costs a few fields, not closures. */
export class Pace {
  // Accepted answers in the current half-second window (from `windowStart`) and in the one before.
  private current = 0
  private previous = 0
  private windowStart = -Infinity
  private firstAccepted = -Infinity
  private lastAccepted = -Infinity
  private pace: number | undefined = undefined
  private lastCut = -Infinity
  private grownAt = 0
  private nextAt = 0

  /** Requests a second it allows (undefined: not paced, no refusal yet). */
  perSecond(): number | undefined {
    return this.pace
  }

  /** Paced, or something accepted within `ms` of `now`: worth keeping. */
  inUse(now: number, ms: number): boolean {
    return this.pace !== undefined || now - this.lastAccepted <= ms
  }

  /** The rate of accepted answers now (requests a second), or undefined when none came within a second. */
  acceptedRate(now: number): number | undefined {
    if (now - this.lastAccepted > staleMs) return undefined
    this.roll(now)
    const span = Math.max(shortestSpanMs, now - Math.max(this.firstAccepted, this.windowStart - windowMs))
    return ((this.previous + this.current) * 1000) / span
  }

  /** An accepted answer at `now`. */
  accepted(now: number): void {
    if (now - this.lastAccepted > staleMs) {
      this.firstAccepted = now
      this.current = 0
      this.previous = 0
      this.windowStart = now
    }
    this.roll(now)
    this.current++
    this.lastAccepted = now
    if (this.pace !== undefined) this.grow(now)
  }

  private roll(now: number) {
    if (now - this.windowStart < windowMs) return
    this.previous = now - this.windowStart < 2 * windowMs ? this.current : 0
    this.current = 0
    this.windowStart += Math.floor((now - this.windowStart) / windowMs) * windowMs
  }

  /** A refusal at `now`; false when nothing had been accepted within a second (the refusal says nothing of this pace). */
  refused(now: number): boolean {
    const rate = this.acceptedRate(now)
    if (rate === undefined) return false
    if (now - this.lastCut < cutEveryMs) return true
    this.lastCut = now
    this.grownAt = now
    this.pace = Math.max(slowestPerSecond, this.pace === undefined ? under * rate : Math.min(cutBy * this.pace, under * rate))
    return true
  }

  /**
   * A place for one send: undefined for now, or the later time reserved for it (the send waits
   * for it, and is not admitted again). Places are `1000 / pace` ms apart.
   */
  admit(now: number): number | undefined {
    if (this.pace !== undefined && now - this.lastCut > forgetAfterMs) this.pace = undefined
    if (this.pace === undefined) return undefined
    const slot = Math.max(this.nextAt, now)
    this.nextAt = slot + 1000 / this.pace
    return slot > now ? slot : undefined
  }

  private grow(now: number) {
    const seconds = (now - this.grownAt) / 1000
    this.grownAt = now
    if (seconds > 0) this.pace! *= 1 + (now - this.lastCut < quietMs ? slowGrowth : fastGrowth) * seconds
  }
}
