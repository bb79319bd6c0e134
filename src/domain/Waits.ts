/**
 * How long the job waits after the notify service refused a request: what its Retry-After asked,
 * never less than a floor, never more than a cap, spread with jitter so that the requests it held
 * back do not all come back at once (docs/design.md, "Retry-After and jitter").
 */

/** Retry-After as the answer gave it: absent, not of RFC 9110's forms, or a delay from now (ms, 0 or more). */
export type RetryAfter =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Invalid" }
  | { readonly _tag: "Delay"; readonly ms: number }

/**
 * The shortest wait after a throttled answer, whatever Retry-After says (0, invalid, or none): a
 * client that takes `Retry-After: 0` at its word turns into a tight loop against a service that
 * is asking it to slow down.
 */
export const shortestWaitMs = 1000

/**
 * The longest wait a Retry-After is taken for: 5 minutes, one CronJob period. A service that asks
 * for hours is more likely misconfigured than right; a throttled answer charges nothing, so asking
 * again after 5 minutes costs one refused request.
 */
export const longestRetryAfterMs = 5 * 60_000

/**
 * How long to wait after an answer with `retryAfter`: the delay it asks (or the floor, when it
 * asks less, or says nothing usable), within the cap, then spread over up to as much again with
 * `random` in [0, 1) (full jitter on top of the service's own wait, as the AWS SDKs spread
 * retries), so that the requests it held back come back over a span, not as one wave.
 */
export const waitAfter = (retryAfter: RetryAfter, random: number): number => {
  const asked = retryAfter._tag === "Delay" ? retryAfter.ms : 0
  const wait = Math.min(longestRetryAfterMs, Math.max(shortestWaitMs, asked))
  return Math.round(wait * (1 + random))
}
