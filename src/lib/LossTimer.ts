/**
 * When a request still in flight is taken for lost: TCP's retransmission timeout (RFC 6298) over
 * the times of the answers. Plain arithmetic, no Effect.
 *
 * - Each answer's time updates a smoothed time and its variation (SRTT and RTTVAR, gains 1/8 and
 *   1/4); the timeout is SRTT + 4 × RTTVAR, at least 1 s (1 s too before the first answer).
 * - Each loss doubles it (the timer's backoff), until an answer comes: a service that answers
 *   nothing sees fewer and fewer requests taken for lost, not a stream of them.
 *
 * A request taken for lost holds no slot of the concurrency limit any more (RFC 6675's pipe: a
 * lost segment is not in flight), so a few requests that a service never answers cannot stop a
 * run whose limit is as low as they are many. It stays open until its answer or NOTIFY_TIMEOUT.
 */

/** RFC 6298 (2.4): the timeout is never below a second. */
const minimumLossMs = 1000
/** RFC 6298 (2.5): a maximum may be placed on it, at least 60 s. */
const maximumLossMs = 60_000
const gain = 1 / 8
const variationGain = 1 / 4

export interface LossTimer {
  /** An answer came `ms` after its request was sent. */
  readonly answered: (ms: number) => void
  /** A request in flight this long (ms) or longer is lost. */
  readonly lostAfterMs: () => number
  /** A request was taken for lost: the timeout doubles until the next answer. */
  readonly lost: () => void
}

export const makeLossTimer = (): LossTimer => {
  let smoothed: number | undefined
  let variation = 0
  let backoff = 1
  return {
    answered: (ms) => {
      backoff = 1
      if (smoothed === undefined) {
        smoothed = ms
        variation = ms / 2
        return
      }
      variation = (1 - variationGain) * variation + variationGain * Math.abs(smoothed - ms)
      smoothed = (1 - gain) * smoothed + gain * ms
    },
    lostAfterMs: () =>
      Math.min(maximumLossMs, backoff * Math.max(minimumLossMs, smoothed === undefined ? minimumLossMs : smoothed + 4 * variation)),
    lost: () => {
      backoff = Math.min(backoff * 2, maximumLossMs / minimumLossMs)
    }
  }
}
