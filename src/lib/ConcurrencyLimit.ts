/**
 * How many requests a run keeps in flight to the notify service: found as the run goes
 * (adaptive, the default) or fixed. Plain arithmetic on each answer, no Effect: it is told of
 * every answer, and the run's workers read `current` before each send.
 *
 * The adaptive limit (docs/design.md, "How the job finds the notify service's limit"):
 * - It starts at `initial` and doubles every round of answers (one more per accepted answer, as
 *   TCP's slow start) until the first sign of a limit, or 64 (the fixed concurrency of old).
 * - A throttled answer (429, or 503 with Retry-After) says the request was one too many: the
 *   limit goes one down, and the level it was at is marked as the service's. The run sends only
 *   while fewer than the limit are in flight, so the turned-away slot is not filled again: 1 of 17 turned away takes
 *   17 to 16; a limit that drops from 32 to 8 in flight turns away about 24, and the run is at 8
 *   a round trip later; a rate limit of 500 a second at 20 ms, met with 45 in flight, turns away
 *   the 35 above what it accepts, and the run is at 10.
 * - A timeout or a 5xx, or a round of answers whose fastest is more than twice the baseline (and
 *   10 ms slower), cuts it by a tenth (Vector's and Netflix's AIMD backoff), once per round.
 * - Below the service's level it grows by one per round of answers (AIMD's additive increase);
 *   at that level it tries one more after a second without a throttled answer, and sooner each
 *   time the try holds (half the wait, down to 50 ms): a service whose limit rose is found again in
 *   a few seconds, one whose limit did not costs about one turned-away request per try.
 * - It grows only while the run uses it (half of it in flight, all of it for a try above the
 *   service's level): a limit the run does not reach says nothing of the service (RFC 7661).
 */

/** What a run's workers and its reports read of the limit, and what they tell it. */
export interface ConcurrencyLimit {
  /** Requests that may be in flight now (at least 1, at most the ceiling). */
  readonly current: () => number
  /**
   * An answer that was not throttled or a failure of the service, `ms` after its send started,
   * with `inFlight` requests in flight (this one included).
   */
  readonly answered: (ms: number, now: number, inFlight: number) => void
  /** The service turned away a request; false when the limit is at one already (then the caller pauses). */
  readonly throttled: (now: number) => boolean
  /** A send failed for the service's trouble (a timeout, a 5xx): once per round at most. */
  readonly overloaded: (now: number) => void
  /** Calls `f` with each new `current`. */
  readonly listen: (f: (current: number) => void) => void
}

/** The limit a run starts at: low, as the anchors do (Vector starts at 1, Netflix's at 20). */
const initialLimit = 4
/** The default ceiling: Vector's and Netflix's default maximum. */
export const defaultCeiling = 200
/**
 * Where slow start ends at the latest (TCP's ssthresh): the fixed concurrency the job ran with
 * before it adapted. Past it the limit grows by one a round: a rate limit that a bucket hides for
 * a while is met with at most this many in flight, not with the ceiling.
 */
const slowStartEnd = 64

const firstProbeMs = 1000
const fastestProbeMs = 50
const backoff = 0.9
/** A round whose fastest answer is this many times the baseline, and `spikeFloorMs` slower, is a spike. */
const spikeRatio = 2
const spikeFloorMs = 10

/** A limit that stays at `ceiling` whatever comes: a throttled todo waits its Retry-After, the client does not. */
export const fixedLimit = (ceiling: number): ConcurrencyLimit => ({
  current: () => ceiling,
  answered: () => {},
  throttled: () => true,
  overloaded: () => {},
  listen: () => {}
})

/** The adaptive limit (see the module comment). */
export const adaptiveLimit = (ceiling: number, initial = initialLimit): ConcurrencyLimit => {
  const listeners: Array<(current: number) => void> = []
  let value = Math.min(initial, ceiling)
  let slowStart = true
  // The level the service last turned requests away at (Infinity: not yet).
  let known = Infinity
  let probeEvery = firstProbeMs
  let lastStep = -Infinity
  // This round's answers (a limit's worth) and its fastest; the baseline, an average of rounds' fastest.
  let baseline: number | undefined
  let roundAnswers = 0
  let roundFastest = Infinity
  // Answers since the last cut.
  let sinceCut = Infinity

  const current = () => Math.max(1, Math.floor(value))
  const set = (next: number) => {
    const before = current()
    value = Math.min(ceiling, Math.max(1, next))
    if (current() !== before) for (const listener of listeners) listener(current())
  }
  const cut = (to: number, now: number) => {
    slowStart = false
    known = current()
    sinceCut = 0
    probeEvery = firstProbeMs
    lastStep = now
    set(to)
  }
  const endRound = (now: number) => {
    const fastest = roundFastest
    roundAnswers = 0
    roundFastest = Infinity
    if (baseline === undefined) {
      baseline = fastest
      return
    }
    const spike = fastest > spikeRatio * baseline && fastest - baseline >= spikeFloorMs
    baseline += (fastest - baseline) / 8
    if (spike) cut(value * backoff, now)
  }
  const grow = (now: number, inFlight: number) => {
    if (value >= ceiling || inFlight * 2 < current()) return
    if (slowStart && value < slowStartEnd) return set(value + 1)
    if (value + 1 < known) return set(value + 1 / value)
    if (now - lastStep < probeEvery || inFlight < current()) return
    // A try one above: the last one held (nothing turned away since), so the next comes sooner.
    lastStep = now
    set(Math.floor(value) + 1)
    known = Math.max(known, current() + 1)
    probeEvery = Math.max(fastestProbeMs, probeEvery / 2)
  }

  return {
    current,
    answered: (ms, now, inFlight) => {
      sinceCut++
      if (ms < roundFastest) roundFastest = ms
      grow(now, inFlight)
      if (++roundAnswers >= current()) endRound(now)
    },
    throttled: (now) => {
      if (current() === 1) return false
      cut(current() - 1, now)
      return true
    },
    overloaded: (now) => {
      if (sinceCut >= current()) cut(value * backoff, now)
    },
    listen: (f) => void listeners.push(f)
  }
}
