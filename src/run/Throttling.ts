/**
 * Back-pressure from the notify service within a run: a throttled todo is set aside and sent
 * again once its wait has passed (Retry-After within a floor and a cap, spread with jitter:
 * domain/Waits), with no attempt counted; the whole client slows down (the concurrency limit, or
 * a pause when it is at one already), or only the throttled workspace, when the service's 429s
 * come for that workspace alone. A 503 without Retry-After (overload) is the whole client's.
 *
 * Telling the two apart: a throttled answer is the workspace's own when that workspace was the
 * last one throttled, and other workspaces' requests were accepted since. Under a limit of the
 * whole client, the turned-away requests fall on whichever workspaces sent at the wrong time;
 * under a limit of one workspace, they keep falling on that one while the others go through.
 * With one workspace in the run the two are the same, and the client's limit answers both.
 */
import type { ClaimedTodo, WorkspaceId } from "../domain/Todo.js"
import { waitAfter } from "../domain/Waits.js"
import type { ConcurrencyLimit } from "../lib/ConcurrencyLimit.js"

/** A throttled todo set aside, and when it may be sent again (epoch ms, by the run's Clock). */
export interface SetAside<B> {
  readonly todo: ClaimedTodo
  readonly batch: B
  readonly notBefore: number
}

/**
 * The longest a run keeps a throttled todo for a later try; beyond it, the todo is handed back
 * with its wait. Also how long a run goes on while the service refuses every request (from the
 * first refusal after the last accepted answer: time spent refused, not time since the last
 * answer, so a long wait before one refusal does not end a run): then it stops and leaves the rest
 * for a later run.
 */
export const longestWaitMs = 60_000

export interface Throttling<B> {
  /** Todos set aside now. */
  readonly waiting: () => number
  /** When the first one set aside may go (undefined: none). */
  readonly nextDue: () => number | undefined
  /** The first todo set aside whose time has come, taken out. */
  readonly takeDue: (now: number) => SetAside<B> | undefined
  /** Every todo set aside, taken out (the run is ending). */
  readonly takeAll: () => ReadonlyArray<SetAside<B>>
  /** Until when a todo of `workspaceId` must wait, when it (or the whole client) is held now. */
  readonly heldUntil: (workspaceId: WorkspaceId, now: number) => number | undefined
  /** Sets a todo aside until `notBefore`. */
  readonly setAside: (todo: ClaimedTodo, batch: B, notBefore: number) => void
  /**
   * The service turned away a request for `todo` (`overloaded`: a 503 without Retry-After): who is
   * slowed, and until when the todo waits (then to be set aside, or handed back when that is too
   * far). `random` in [0, 1) spreads the wait.
   */
  readonly throttled: (todo: ClaimedTodo, retryAfterMs: number | undefined, overloaded: boolean, now: number, random: number) => number
  /** A request for `workspaceId` was accepted at `now`. */
  readonly accepted: (workspaceId: WorkspaceId, now: number) => void
  /** The service has refused for `longestWaitMs` up to `now`, with nothing accepted since. */
  readonly refusingAll: (now: number) => boolean
}

export const makeThrottling = <B>(limit: ConcurrencyLimit): Throttling<B> => {
  // Set aside, in the order their time comes.
  const aside: Array<SetAside<B>> = []
  const holds = new Map<WorkspaceId, number>()
  let clientHeldUntil = 0
  // Workspaces throttled in this run, each with the count of other workspaces' accepted requests
  // at its last throttled answer; and the workspace of the last throttled answer.
  const suspects = new Map<WorkspaceId, number>()
  let acceptedOutside = 0
  // When the service began refusing with nothing accepted since (undefined: it is accepting).
  let refusingSince: number | undefined
  let last: WorkspaceId | undefined

  const setAside = (todo: ClaimedTodo, batch: B, notBefore: number) => {
    let at = aside.length
    while (at > 0 && aside[at - 1]!.notBefore > notBefore) at--
    aside.splice(at, 0, { todo, batch, notBefore })
  }

  return {
    waiting: () => aside.length,
    nextDue: () => aside[0]?.notBefore,
    takeDue: (now) => (aside.length > 0 && aside[0]!.notBefore <= now ? aside.shift() : undefined),
    takeAll: () => aside.splice(0),
    heldUntil: (workspaceId, now) => {
      if (clientHeldUntil > now) return clientHeldUntil
      if (holds.size === 0) return undefined
      const until = holds.get(workspaceId)
      if (until === undefined) return undefined
      if (until > now) return until
      holds.delete(workspaceId)
      return undefined
    },
    setAside,
    throttled: (todo, retryAfterMs, overloaded, now, random) => {
      const workspace = todo.workspaceId
      const until = now + waitAfter(retryAfterMs === undefined ? { _tag: "Absent" } : { _tag: "Delay", ms: retryAfterMs }, random)
      refusingSince ??= now
      if (overloaded) {
        if (!limit.throttled(now)) clientHeldUntil = Math.max(clientHeldUntil, until)
        return until
      }
      const since = suspects.get(workspace)
      const own = since !== undefined && last === workspace && acceptedOutside > since
      suspects.set(workspace, acceptedOutside)
      last = workspace
      if (own) holds.set(workspace, Math.max(until, holds.get(workspace) ?? 0))
      else if (!limit.throttled(now)) clientHeldUntil = Math.max(clientHeldUntil, until)
      return until
    },
    accepted: (workspaceId) => {
      refusingSince = undefined
      if (suspects.size > 0 && !suspects.has(workspaceId)) acceptedOutside++
    },
    refusingAll: (now) => refusingSince !== undefined && now - refusingSince >= longestWaitMs
  }
}
