/**
 * How many requests a run keeps in flight to the notify service: found as the run goes
 * (adaptive, the default) or fixed. Plain arithmetic on each answer, no Effect: it is told of
 * every answer, and the run's workers read `current` before each send.
 *
 * The adaptive limit (docs/design.md, "How the job finds the notify service's limit"):
 * - It starts at `initial` and doubles every round (TCP's slow start) until the first sign of a
 *   limit, or 64 (the fixed concurrency of old). A round is the limit's worth of answers to
 *   requests sent after it last moved, so that it says what this limit does to the service. One
 *   answer slower than the slowest of the baseline's by more than HyStart++'s delay threshold
 *   (RFC 9406: an eighth of the baseline, 4 to 16 ms) is a queue: the limit holds for a round, and
 *   ends slow start if that round has one too (a lone slow answer, the job's own pause or the
 *   network's, does not). So the limit is never more than twice a level the service served without
 *   a queue: the old rule (one more per accepted answer) doubled on while the slow answers were on
 *   their way (bench/NOTES.md has what that cost).
 * - A throttled answer (429, or a 503 with Retry-After or while other requests are accepted) says the request was one too many: the
 *   limit goes one down, and the level it was at is marked as the service's. The run sends only
 *   while fewer than the limit are in flight, so the turned-away slot is not filled again.
 * - Latency is a signal too, for a service that queues instead of refusing. A round's samples
 *   are the service's own time for each accepted request (not the token fetch, the pacer's wait or
 *   the job's queue). When a round's median is over `tolerance` times the baseline (and
 *   `queueFloorMs` more), requests are waiting at the service: the limit is cut in proportion
 *   (times baseline × tolerance / median, at most by half), as Envoy's and Netflix's gradient
 *   limits do, and does not grow until a round is back within the tolerance.
 * - The baseline is the median of `measureAnswers` answers taken at `measureConcurrency` in flight
 *   (so that no queue of the job's own is in it): first at the start, then again every
 *   `remeasureMs` and up to half as much again at random, as Envoy re-measures its minimum RTT. It
 *   cannot drift up with a queue, nor down with a lucky round of a jittery service.
 * - A timeout or a 5xx cuts it by a tenth (Vector's and Netflix's AIMD backoff), once per round.
 * - Below the service's level it grows by one per round of answers (AIMD's additive increase);
 *   at that level it tries one more after a second without a throttled answer, and sooner each
 *   time the try holds (half the wait, down to 50 ms).
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
  /** The service turned away a request; false when the limit is at one already (then the caller paces the whole client). */
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

/** HyStart++'s delay threshold (RFC 9406, 4.2: MIN_RTT_DIVISOR, MIN_RTT_THRESH, MAX_RTT_THRESH). */
const hystartDivisor = 8
const hystartLeastMs = 4
const hystartMostMs = 16
const firstProbeMs = 1000
const fastestProbeMs = 50
const backoff = 0.9
/** A round's median this many times the baseline, and `queueFloorMs` more, is a queue at the service. */
export const tolerance = 1.5
const queueFloorMs = 5
/** A queue cuts the limit at most by half a round. */
const deepestCut = 0.5
/** The baseline is measured with this many in flight (Envoy's minimum concurrency)... */
export const measureConcurrency = 3
/** ...from the median of this many answers to requests sent once the limit was down to it... */
const measureAnswers = 20
/** ...every this long, and up to half as much again at random. */
export const remeasureMs = 30_000

/** A limit that stays at `ceiling` whatever comes: a throttled todo waits its Retry-After, the client does not. */
export const fixedLimit = (ceiling: number): ConcurrencyLimit => ({
  current: () => ceiling,
  answered: () => {},
  throttled: () => true,
  overloaded: () => {},
  listen: () => {}
})

const median = (values: Array<number>): number => {
  values.sort((a, b) => a - b)
  const middle = values.length >> 1
  return values.length % 2 === 1 ? values[middle]! : (values[middle - 1]! + values[middle]!) / 2
}

/** The adaptive limit (see the module comment); `random` in [0, 1) spreads the re-measures. */
export const adaptiveLimit = (ceiling: number, initial = initialLimit, random: () => number = Math.random): ConcurrencyLimit => {
  const listeners: Array<(current: number) => void> = []
  let value = Math.min(initial, ceiling)
  let slowStart = true
  // The level the service last turned requests away at (Infinity: not yet).
  let known = Infinity
  let probeEvery = firstProbeMs
  let lastStep = -Infinity
  // This round's samples (the service's time of each accepted answer), and whether the last round queued.
  const round: Array<number> = []
  // A round is the limit's worth of answers as it began (in slow start the limit grows within it).
  let roundSize = 0
  let queueing = false
  // The baseline: the service's time without a queue (undefined until the first round).
  let baseline: number | undefined
  // A measure of the baseline under way (the first from the start, at the initial limit, which does
  // not grow until it is done): since when, its cap on the limit, and its samples.
  let measuringSince: number | undefined = -Infinity
  let measureCap = Infinity
  const measured: Array<number> = []
  let nextMeasureAt = Infinity
  // Answers since the last cut.
  let sinceCut = Infinity
  // Slow start: when the limit last moved (or the baseline was measured), the round since, whether
  // it confirms a slow answer, and the slowest answer of the baseline's measure.
  let steppedAt = -Infinity
  const slowRound: Array<number> = []
  let confirming = false
  let slowestOfBaseline = 0

  // The limit itself; `current` is lower while the baseline is measured.
  const level = () => Math.max(1, Math.floor(value))
  const current = () => (measuringSince === undefined ? level() : Math.min(level(), measureCap))
  const notify = () => {
    for (const listener of listeners) listener(current())
  }
  const set = (next: number) => {
    const before = current()
    value = Math.min(ceiling, Math.max(1, next))
    if (current() !== before) notify()
  }
  const cut = (to: number, now: number) => {
    slowStart = false
    known = level()
    sinceCut = 0
    probeEvery = firstProbeMs
    lastStep = now
    set(to)
  }
  const scheduleMeasure = (now: number) => {
    nextMeasureAt = now + remeasureMs * (1 + random() / 2)
  }
  const endRound = (now: number) => {
    const typical = median(round)
    round.length = 0
    if (baseline === undefined) return
    queueing = typical > tolerance * baseline && typical - baseline >= queueFloorMs
    if (queueing) {
      slowStart = false
      sinceCut = 0
      set(value * Math.max(deepestCut, (tolerance * baseline) / typical))
    }
    if (now >= nextMeasureAt && value > measureConcurrency) {
      measuringSince = now
      measureCap = measureConcurrency
      measured.length = 0
      notify()
    }
  }
  const grow = (now: number, inFlight: number) => {
    if (queueing || value >= ceiling || inFlight * 2 < current()) return
    if (value + 1 < known) return set(value + 1 / value)
    if (now - lastStep < probeEvery || inFlight < level()) return
    // A try one above: the last one held (nothing turned away since), so the next comes sooner.
    lastStep = now
    set(Math.floor(value) + 1)
    known = Math.max(known, level() + 1)
    probeEvery = Math.max(fastestProbeMs, probeEvery / 2)
  }
  // A round of slow start (see the module comment): the limit doubles, holds for a round to
  // confirm a queue, or slow start ends (and a round past the tolerance cuts the limit, as in `endRound`).
  const slowStartAnswer = (ms: number, now: number, inFlight: number) => {
    if (now - ms < steppedAt || inFlight * 2 < current() || value >= ceiling) return
    const threshold = Math.min(hystartMostMs, Math.max(hystartLeastMs, baseline! / hystartDivisor))
    if (ms > slowestOfBaseline + threshold) {
      slowRound.length = 0
      steppedAt = now
      if (!confirming) return void (confirming = true)
      slowStart = false
      round.push(ms)
      return endRound(now)
    }
    slowRound.push(ms)
    if (slowRound.length < level()) return
    const typical = median(slowRound)
    slowRound.length = 0
    steppedAt = now
    if (value >= slowStartEnd) {
      slowStart = false
      round.push(typical)
      return endRound(now)
    }
    confirming = false
    set(Math.min(slowStartEnd, value * 2))
  }
  const measure = (ms: number, now: number) => {
    // Only requests sent once the limit was down: the ones before may have queued behind others.
    if (now - ms < measuringSince!) return
    measured.push(ms)
    if (measured.length < measureAnswers) return
    slowestOfBaseline = Math.max(...measured)
    baseline = median(measured)
    measuringSince = undefined
    steppedAt = now
    scheduleMeasure(now)
    notify()
  }

  return {
    current,
    answered: (ms, now, inFlight) => {
      sinceCut++
      if (measuringSince !== undefined) return measure(ms, now)
      if (slowStart) return slowStartAnswer(ms, now, inFlight)
      if (round.length === 0) roundSize = level()
      round.push(ms)
      grow(now, inFlight)
      if (round.length >= roundSize) endRound(now)
    },
    throttled: (now) => {
      if (level() === 1) return false
      cut(level() - 1, now)
      return true
    },
    overloaded: (now) => {
      if (sinceCut >= current()) cut(value * backoff, now)
    },
    listen: (f) => void listeners.push(f)
  }
}
