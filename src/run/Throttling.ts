/**
 * Back-pressure from the notify service within a run: a throttled todo is set aside and sent
 * again once its wait has passed (Retry-After within a floor and a cap, spread with jitter:
 * NotificationClient/Answers), with no attempt counted. Who is slowed (docs/design.md, "Limits
 * per workspace"):
 *
 * - The throttled workspace, always: from then on its sends are paced (lib/Pace) just under the
 *   rate the service was accepting from it; a refusal that asks for 10 s or more also holds the
 *   workspace that long. A workspace that waits never holds back the others: its todos are set
 *   aside and the workers take the next. The refused todo itself waits out its wait.
 * - The whole client too, when the refusal cannot be the workspace's own: a workspace with nothing
 *   accepted in the last second was refused on its first request, which no limit of its own would
 *   refuse (its bucket is full), so the limit is the client's; and a 503 without Retry-After (a
 *   proxy that is full) is the client's. Then the concurrency limit goes one down, and once it is at
 *   one, the client's sends are paced as a workspace's are.
 *
 * - The whole client, held for the wait asked, in a storm: three in four of the last answers refused, over
 *   several workspaces (a client-wide limit met by a burst, which paces would learn too slowly).
 *
 * The run stops sending (and leaves the rest for a later run) once the service has refused for
 * `longestWaitMs` with nothing accepted in between: time spent refused, not time since the last
 * answer, so a long wait before one refusal does not end a run.
 */
import type { ClaimedTodo, WorkspaceId } from "../domain/Todo.js"
import type { ConcurrencyLimit } from "../lib/ConcurrencyLimit.js"
import { Pace } from "../lib/Pace.js"
import { waitAfter } from "../domain/Waits.js"

/** A throttled todo set aside, and when it may be sent again (epoch ms, by the run's Clock). */
export interface SetAside<B> {
  readonly todo: ClaimedTodo
  readonly batch: B
  readonly notBefore: number
  /** Its place under the paces is reserved at `notBefore`: it goes then without being admitted again. */
  readonly reserved: boolean
}

/**
 * The longest a run keeps a throttled todo for a later try; beyond it, the todo is handed back
 * with its wait. Also how long a run goes on while the service refuses every request: then it
 * stops and leaves the rest for a later run.
 */
export const longestWaitMs = 60_000

/**
 * A storm of refusals: at least `stormRefusals` of the last `stormWindow` answers refused, over
 * more than one workspace (or in a run of one). Then the refusals are the client's, whatever the
 * workspaces: the client waits out the wait asked, as a whole.
 */
const stormWindow = 32
const stormRefusals = 24

/** A refusal that asks for this long or more holds its whole workspace that long. */
const holdWorkspaceAfterMs = 10_000

/**
 * A workspace neither paced, held nor accepted for this long is forgotten (every `sweepEveryMs`),
 * so that the run's memory follows the workspaces of the last seconds, not all it has seen.
 */
const forgetAfterMs = 2_000
const sweepEveryMs = 1_000

export interface Throttling<B> {
  /** Todos set aside now. */
  readonly waiting: () => number
  /** When the first one set aside may go (undefined: none). */
  readonly nextDue: () => number | undefined
  /** The first todo set aside whose time has come, taken out. */
  readonly takeDue: (now: number) => SetAside<B> | undefined
  /** Every todo set aside, taken out (the run is ending). */
  readonly takeAll: () => ReadonlyArray<SetAside<B>>
  /**
   * Whether a todo of `workspaceId` may be sent now: undefined, and its place under the paces is
   * taken; or until when it must wait: held (its workspace, or the whole client), or paced (then
   * `reserved`: its place at that time is taken already).
   */
  readonly admit: (workspaceId: WorkspaceId, now: number) => { readonly until: number; readonly reserved: boolean } | undefined
  /** Sets a todo aside until `notBefore`. */
  readonly setAside: (todo: ClaimedTodo, batch: B, notBefore: number, reserved?: boolean) => void
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

interface Workspace {
  readonly pace: Pace
  heldUntil: number
}

export const makeThrottling = <B>(limit: ConcurrencyLimit): Throttling<B> => {
  // Set aside, in the order their time comes.
  const aside: Array<SetAside<B>> = []
  const workspaces = new Map<WorkspaceId, Workspace>()
  const client = new Pace()
  let clientHeldUntil = 0
  let paced = false
  // When the service began refusing with nothing accepted since (undefined: it is accepting).
  let refusingSince: number | undefined
  let sweptAt = 0
  // The last answers: refused ones by workspace, accepted ones as undefined (a ring).
  const recent: Array<WorkspaceId | undefined | null> = Array.from({ length: stormWindow }, () => null)
  let recentAt = 0
  const remember = (refused: WorkspaceId | undefined) => {
    recent[recentAt] = refused
    recentAt = (recentAt + 1) % stormWindow
  }
  const storm = () => {
    let refusals = 0
    let first: WorkspaceId | undefined
    let several = workspaces.size <= 1
    for (const entry of recent) {
      if (entry === null || entry === undefined) continue
      refusals++
      if (first === undefined) first = entry
      else if (entry !== first) several = true
    }
    return refusals >= stormRefusals && several
  }

  const workspace = (id: WorkspaceId): Workspace => {
    let state = workspaces.get(id)
    if (state === undefined) {
      state = { pace: new Pace(), heldUntil: 0 }
      workspaces.set(id, state)
    }
    return state
  }
  const sweep = (now: number) => {
    if (now - sweptAt < sweepEveryMs) return
    sweptAt = now
    for (const [id, state] of workspaces) {
      if (state.heldUntil <= now && !state.pace.inUse(now, forgetAfterMs)) workspaces.delete(id)
    }
  }
  const setAside = (todo: ClaimedTodo, batch: B, notBefore: number, reserved = false) => {
    let at = aside.length
    while (at > 0 && aside[at - 1]!.notBefore > notBefore) at--
    aside.splice(at, 0, { todo, batch, notBefore, reserved })
  }
  /** The client's limit goes down; at one already, the client is paced (and held for the wait when it cannot be). */
  const slowClient = (now: number, until: number) => {
    if (limit.throttled(now)) return
    if (client.refused(now)) paced = true
    else clientHeldUntil = Math.max(clientHeldUntil, until)
  }

  return {
    waiting: () => aside.length,
    nextDue: () => aside[0]?.notBefore,
    takeDue: (now) => (aside.length > 0 && aside[0]!.notBefore <= now ? aside.shift() : undefined),
    takeAll: () => aside.splice(0),
    admit: (workspaceId, now) => {
      if (clientHeldUntil > now) return { until: clientHeldUntil, reserved: false }
      const state = workspaces.get(workspaceId)
      if (state !== undefined && state.heldUntil > now) return { until: state.heldUntil, reserved: false }
      const own = state?.pace.admit(now)
      const clients = paced ? client.admit(now) : undefined
      if (own === undefined && clients === undefined) return undefined
      return { until: Math.max(own ?? now, clients ?? now), reserved: true }
    },
    setAside,
    throttled: (todo, retryAfterMs, overloaded, now, random) => {
      const until = now + waitAfter(retryAfterMs === undefined ? { _tag: "Absent" } : { _tag: "Delay", ms: retryAfterMs }, random)
      refusingSince ??= now
      remember(todo.workspaceId)
      if (storm()) {
        clientHeldUntil = Math.max(clientHeldUntil, until)
        limit.throttled(now)
        recent.fill(null)
        return until
      }
      if (overloaded) {
        slowClient(now, until)
        return until
      }
      const state = workspace(todo.workspaceId)
      // A long wait asked is the workspace's to keep; a short one is the refused request's alone
      // (the workspace goes on at its pace: holding every refused workspace for a second would
      // stall a run whose limit is the client's).
      if (until - now >= holdWorkspaceAfterMs) state.heldUntil = Math.max(state.heldUntil, until)
      // Refused with nothing of its own accepted within a second: the client's limit, not its own.
      if (!state.pace.refused(now)) slowClient(now, until)
      return until
    },
    accepted: (workspaceId, now) => {
      refusingSince = undefined
      remember(undefined)
      workspace(workspaceId).pace.accepted(now)
      client.accepted(now)
      sweep(now)
    },
    refusingAll: (now) => refusingSince !== undefined && now - refusingSince >= longestWaitMs
  }
}
