/**
 * What the notify service's answers mean for its client: which throttle it (429, or 503 with
 * Retry-After), and how long Retry-After asks to wait.
 */

/** An answer that throttles its client: a 429, or a 503 that says when to come back. */
export const throttles = (status: number, retryAfterMs: number | undefined): boolean =>
  status === 429 || (status === 503 && retryAfterMs !== undefined)

/** Retry-After as milliseconds from `now`: delay-seconds or an HTTP date. */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
