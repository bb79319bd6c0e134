/**
 * The limits a production notify service keeps without publishing them, for the fake: so many
 * notification requests in flight, so many a second (a token bucket), or so many a second for
 * one workspace. A request past a limit is answered 429 at once, with Retry-After.
 */

export interface LimitsBehaviour {
  /** Notification requests in flight at once before a 429 (0: no limit). */
  limitInFlight: number
  /** Notification requests a second before a 429: a bucket of a tenth of a second's (0: no limit). */
  limitPerSecond: number
  /** One workspace's notification requests a second before a 429 (0: no limit). */
  workspaceLimitPerSecond: number
  /** The workspace `workspaceLimitPerSecond` applies to. */
  limitedWorkspace: string | undefined
}

export const noLimits: LimitsBehaviour = {
  limitInFlight: 0,
  limitPerSecond: 0,
  workspaceLimitPerSecond: 0,
  limitedWorkspace: undefined
}

/** A token bucket of `perSecond` with a tenth of a second's tokens (at least one). */
export const bucket = () => {
  let tokens = Number.NaN
  let at = 0
  return (perSecond: number, now: number): boolean => {
    const capacity = Math.max(1, perSecond / 10)
    tokens = Number.isNaN(tokens) ? capacity : Math.min(capacity, tokens + ((now - at) * perSecond) / 1000)
    at = now
    if (tokens < 1) return false
    tokens -= 1
    return true
  }
}

/** The fake's limits, as `behaviour` says at each request; `inFlight` counts what was admitted and not yet answered. */
export const makeLimits = (behaviour: LimitsBehaviour) => {
  const client = bucket()
  const workspace = bucket()
  let inFlight = 0
  return {
    /** Whether a request of `workspaceId` (at `now`, epoch ms) is let in; if so, it is in flight until `leave`. */
    admit: (workspaceId: string | undefined, now: number): boolean => {
      if (behaviour.limitInFlight > 0 && inFlight >= behaviour.limitInFlight) return false
      if (behaviour.limitPerSecond > 0 && !client(behaviour.limitPerSecond, now)) return false
      if (
        behaviour.workspaceLimitPerSecond > 0 && workspaceId === behaviour.limitedWorkspace &&
        !workspace(behaviour.workspaceLimitPerSecond, now)
      ) return false
      inFlight++
      return true
    },
    leave: () => {
      inFlight--
    },
    inFlight: () => inFlight
  }
}
