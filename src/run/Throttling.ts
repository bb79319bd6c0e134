/**
 * Back-pressure from the notify service within a run (docs/design.md, "Limits per workspace"): a
 * throttled todo waits (Retry-After within a floor and a cap, spread with jitter: domain/Waits)
 * and is sent again, with no attempt counted. Who slows down depends on whose limit refused:
 *
 * - The whole client's, by default: the concurrency limit goes one down, and only the refused
 *   todo waits. At one already, the client is held for the wait once, then paced (WorkspacePace's
 *   `clientRefused`). A 503 without Retry-After (overload) is always the client's (held at one).
 * - The workspace's own, when its refusals say so: refused three times in a row while other
 *   workspaces' requests went through between (twice in a row befalls one workspace in W under the
 *   client's limit), or at three times the client's share of refusals, six times at least. Then
 *   it alone is held until the wait is over and paced: 95 % of what the service accepted of it, one
 *   a second at least, halved when refused again at that pace; stepped up after a while without a
 *   refusal (doubling each second at first, then by 10 % every 2 to 4 s, or halfway to a step that
 *   was refused), a refusal within a second of a step taking it back: its limit, found. A workspace
 *   not seen yet starts at the median of the limits found (doubling), once three are.
 * - Nobody more, for a refusal of a request sent before the workspace was slowed: the rest of a
 *   burst says nothing the first refusal did not.
 *
 * A paced workspace's todos wait in its own queue, each at its turn, so that what it held back
 * goes out spaced, not as one burst. A workspace that waits never holds back the others: its
 * queue does not hold the claims back (up to `asideFree` todos), a todo whose turn is more than
 * `turnHorizonMs` off is handed back to the ledger until then (the run claims it again), and the
 * workers send the others' meanwhile.
 */
import type { ClaimedTodo, WorkspaceId } from "../domain/Todo.js"
import { waitAfter } from "../domain/Waits.js"
import type { ConcurrencyLimit } from "../lib/ConcurrencyLimit.js"
import type { RefusalKind } from "./NotifyTodo.js"
import { makeClientPace } from "./ClientPace.js"
import { doublingEveryMs, forgetAfterMs, forgetOld, interval, learnPace, longestWaitMs, newWorkspace, nextStepIn, oftenAfter, oftenShare, queued, refusalsInARow, refusedAtPace, type SetAside, soonest, step, stepBlameMs, turnHandBackMs, type Workspace } from "./WorkspacePace.js"

export { asideFree, longestWaitMs, type SetAside, turnHorizonMs } from "./WorkspacePace.js"

export interface Throttling<B> {
  /** Todos waiting now. */
  readonly waiting: () => number
  /** When the first one waiting may go (undefined: none). */
  readonly nextDue: () => number | undefined
  /** The first todo waiting whose turn has come, taken out (its turn taken). */
  readonly takeDue: (now: number) => SetAside<B> | undefined
  /** Every todo waiting, taken out (the run is ending), each with when it could have gone. */
  readonly takeAll: (now: number) => ReadonlyArray<SetAside<B>>
  /**
   * For a todo of `workspaceId` about to be sent: undefined when it may go now (its workspace's
   * turn is taken), or the soonest it could go (the client or its workspace is held, its pace
   * has no turn yet, or others of it wait before it): then it waits (`setAside`) or is handed back.
   */
  readonly turnAt: (workspaceId: WorkspaceId, now: number) => number | undefined
  /**
   * When a todo of `workspaceId` handed back for its turn at `turn` should be claimed again: at
   * that turn, or within `turnHandBackMs` while its workspace's pace is still doubling (it may be
   * its turn sooner by then).
   */
  readonly backAt: (workspaceId: WorkspaceId, turn: number, now: number) => number
  /**
   * Sets a todo aside until `notBefore`: in its workspace's turn, or, a throttled one whose
   * workspace is not held (the client's refusal), on its own.
   */
  readonly setAside: (todo: ClaimedTodo, batch: B, notBefore: number, throttled: boolean, now: number) => void
  /**
   * The service turned away a request for `todo`, sent at `sentAt` (`kind`: see RefusalKind): who
   * is slowed (see the module comment), and until when the todo waits (then to be set aside, first
   * of its workspace, or handed back when that is too far). `random` in [0, 1) spreads the wait.
   */
  readonly throttled: (
    todo: ClaimedTodo,
    retryAfterMs: number | undefined,
    kind: RefusalKind,
    sentAt: number,
    now: number,
    random: number
  ) => number
  /** A request for `workspaceId` was accepted at `now`. */
  readonly accepted: (workspaceId: WorkspaceId, now: number) => void
  /** The service has refused for `longestWaitMs` up to `now`, with nothing accepted since. */
  readonly refusingAll: (now: number) => boolean
  /** How long a send about to start waits for the client's turn, when the client is paced (0: none); its turn is taken. */
  readonly clientGap: (now: number) => number
}

export const makeThrottling = <B>(limit: ConcurrencyLimit, spread: () => number = Math.random): Throttling<B> => {
  const workspaces = new Map<WorkspaceId, Workspace<B>>()
  // The workspaces with todos waiting, by when their first may go; and throttled todos set aside
  // on their own (the client's refusals), by when they may go.
  const ready: Array<Workspace<B>> = []
  const later: Array<SetAside<B>> = []
  let waiting = 0
  // When the service began refusing with nothing accepted since (undefined: it is accepting).
  let refusingSince: number | undefined
  // Whether the run was throttled yet: only then are accepted requests kept per workspace.
  let tracking = false
  let nextSweep = 0
  // The last paces found (a step refused): a workspace not seen yet starts at their median.
  const found: Array<number> = []
  found.length = 15
  let foundNext = 0
  const startingPace = () => {
    const known = found.slice(0, Math.min(foundNext, found.length)).sort((a, b) => a - b)
    return known.length < 3 ? 0 : known[known.length >> 1]!
  }
  // Each workspace refused, with the count of other workspaces' accepted requests at its last
  // refusal; and the workspace last refused, and how many times in a row.
  const refusedAt = new WeakMap<Workspace<B>, number>()
  let last: Workspace<B> | undefined
  let inARow = 0
  let lastId: WorkspaceId | undefined
  let acceptedOthers = 0
  // Requests accepted and refused since the run was first throttled.
  let acceptedAll = 0
  let refusedAll = 0

  const workspaceOf = (workspaceId: WorkspaceId, now: number) => {
    let workspace = workspaces.get(workspaceId)
    if (workspace === undefined) {
      workspace = newWorkspace<B>(now)
      workspaces.set(workspaceId, workspace)
    }
    workspace.lastSeen = now
    return workspace
  }
  const sweep = (now: number) => {
    nextSweep = now + forgetAfterMs
    for (const [id, workspace] of workspaces) {
      if (workspace.lastSeen < now - forgetAfterMs && workspace.head >= workspace.queue.length) workspaces.delete(id)
    }
  }
  // (Re)places a workspace with todos waiting among the ready ones, by when its first may go.
  const unready = (workspace: Workspace<B>) => {
    const at = ready.indexOf(workspace)
    if (at >= 0) ready.splice(at, 1)
  }
  const makeReady = (workspace: Workspace<B>) => {
    workspace.readyAt = soonest(workspace)
    let at = ready.length
    while (at > 0 && ready[at - 1]!.readyAt > workspace.readyAt) at--
    ready.splice(at, 0, workspace)
  }
  // The client's pace, once refused at a limit of one, and its hold.
  const client = makeClientPace(spread)
  const slow = (workspace: Workspace<B>, until: number, now: number) => {
    workspace.slowedAt = now
    workspace.holdUntil = Math.max(workspace.holdUntil, until)
    workspace.nextStepAt = workspace.holdUntil + nextStepIn(workspace, spread)
    if (queued(workspace) > 0) {
      unready(workspace)
      makeReady(workspace)
    }
  }
  return {
    waiting: () => waiting + later.length,
    nextDue: () => {
      const first = Math.min(ready[0]?.readyAt ?? Infinity, later[0]?.notBefore ?? Infinity)
      return first === Infinity ? undefined : Math.max(client.heldUntil(), first)
    },
    takeDue: (now) => {
      if (client.heldUntil() > now) return undefined
      if (later.length > 0 && later[0]!.notBefore <= now && (ready.length === 0 || later[0]!.notBefore <= ready[0]!.readyAt)) {
        return later.shift()
      }
      const workspace = ready[0]
      if (workspace === undefined || workspace.readyAt > now) return undefined
      ready.shift()
      const entry = workspace.queue[workspace.head]!
      workspace.queue[workspace.head++] = undefined as never
      waiting--
      workspace.nextTurn = now + interval(workspace)
      if (workspace.head >= workspace.queue.length) {
        workspace.queue.length = 0
        workspace.head = 0
      } else {
        makeReady(workspace)
      }
      return { todo: entry.todo, batch: entry.batch, notBefore: now, inTurn: true }
    },
    takeAll: (now) => {
      const all: Array<SetAside<B>> = []
      for (const workspace of ready) {
        let at = Math.max(now, workspace.readyAt)
        for (let i = workspace.head; i < workspace.queue.length; i++) {
          all.push({ ...workspace.queue[i]!, notBefore: at, inTurn: true })
          at += interval(workspace)
        }
        workspace.queue.length = 0
        workspace.head = 0
      }
      ready.length = 0
      waiting = 0
      all.push(...later.splice(0))
      return all
    },
    turnAt: (workspaceId, now) => {
      let workspace = workspaces.size === 0 ? undefined : workspaces.get(workspaceId)
      if (workspace === undefined && foundNext >= 3) {
        // Workspaces have limits of their own here: a new one starts at the pace they were found at, doubling.
        workspace = workspaceOf(workspaceId, now)
        workspace.perSecond = startingPace()
        workspace.nextStepAt = now + doublingEveryMs
      }
      if (workspace === undefined) return client.heldUntil() > now ? client.heldUntil() : undefined
      const behind = queued(workspace)
      if (behind > 0) return Math.max(client.heldUntil(), workspace.readyAt + behind * interval(workspace))
      const at = soonest(workspace)
      if (at > now || client.heldUntil() > now) return Math.max(at, client.heldUntil())
      workspace.nextTurn = now + interval(workspace)
      return undefined
    },
    backAt: (workspaceId, turn, now) => {
      const workspace = workspaces.get(workspaceId)
      return workspace === undefined || workspace.doubling ? Math.min(turn, now + turnHandBackMs) : turn
    },
    setAside: (todo, batch, notBefore, first, now) => {
      const workspace = workspaceOf(todo.workspaceId, now)
      if (first && workspace.holdUntil < notBefore) {
        let at = later.length
        while (at > 0 && later[at - 1]!.notBefore > notBefore) at--
        later.splice(at, 0, { todo, batch, notBefore, inTurn: false })
        return
      }
      const wasQueued = queued(workspace) > 0
      if (first && workspace.head > 0) workspace.queue[--workspace.head] = { todo, batch }
      else if (first) workspace.queue.unshift({ todo, batch })
      else workspace.queue.push({ todo, batch })
      waiting++
      if (!wasQueued) makeReady(workspace)
    },
    throttled: (todo, retryAfterMs, kind, sentAt, now, random) => {
      const asked = retryAfterMs === undefined ? { _tag: "Absent" as const } : { _tag: "Delay" as const, ms: retryAfterMs }
      const until = now + waitAfter(asked, random)
      refusingSince ??= now
      tracking = true
      const workspace = workspaceOf(todo.workspaceId, now)
      // The auth service's: only the todo waits (its workspace's token is asked for again then).
      if (kind === "auth") return until
      client.refusal(now)
      if (kind === "overloaded") {
        if (!limit.throttled(now)) client.hold(until)
        return Math.max(until, soonest(workspace))
      }
      // The rest of a burst sent before the workspace was slowed: its todo waits, nothing more.
      if (sentAt < workspace.slowedAt) return Math.max(until, soonest(workspace))
      // Refused a third time in a row, other workspaces' requests accepted between: under the
      // client's limit, refusals fall on whichever workspaces send at the wrong time; under the
      // workspace's own, they keep falling on it while the others go through.
      const since = refusedAt.get(workspace)
      inARow = since !== undefined && last === workspace && acceptedOthers > since ? inARow + 1 : 1
      workspace.refused++
      refusedAll++
      // Or refused far more often than the client: a few of its requests at least, thrice the client's share.
      const often = workspace.refused >= oftenAfter &&
        workspace.refused * (acceptedAll + refusedAll) >= oftenShare * refusedAll * (workspace.refused + workspace.acceptedCount)
      const again = inARow >= refusalsInARow || often
      refusedAt.set(workspace, acceptedOthers)
      last = workspace
      lastId = todo.workspaceId
      const paced = workspace.perSecond > 0
      if (paced && (again || now - workspace.steppedAt < stepBlameMs)) {
        // A step one too many (back to the pace it held: its limit's measure), or its limit fell.
        if (refusedAtPace(workspace, now)) found[foundNext++ % found.length] = workspace.perSecond
      } else if (again) {
        learnPace(workspace, now)
      } else {
        // The client's: its limit goes down (or, at one already, the client is paced), and only this todo waits.
        // (The client is held for the wait itself: the spread is for todos, so that they do not come back at once.)
        if (client.paced() || !limit.throttled(now)) client.refused(now + waitAfter(asked, 0), sentAt, now)
        return until
      }
      slow(workspace, until, now)
      return workspace.holdUntil
    },
    accepted: (workspaceId, now) => {
      refusingSince = undefined
      client.accepted(now, tracking)
      if (lastId !== undefined && workspaceId !== lastId) acceptedOthers++
      if (!tracking) return
      acceptedAll++
      const workspace = workspaceOf(workspaceId, now)
      workspace.acceptedCount++
      workspace.accepted.push(now)
      forgetOld(workspace, now)
      if (workspace.perSecond > 0 && now >= workspace.nextStepAt) step(workspace, now, spread)
      if (now >= nextSweep) sweep(now)
    },
    refusingAll: (now) => refusingSince !== undefined && now - refusingSince >= longestWaitMs,
    clientGap: client.gap
  }
}
