/**
 * For Throttling: how long todos wait in a run, and what a run knows of one workspace once the
 * notify service has turned requests away (its accepted requests of the last second, its hold, its
 * pace and its queue), with the plain arithmetic of its pace.
 */
import type { ClaimedTodo } from "../domain/Todo.js"

/** A todo waiting for its turn, and when it may go at the soonest (epoch ms, by the run's Clock). */
export interface SetAside<B> {
  readonly todo: ClaimedTodo
  readonly batch: B
  readonly notBefore: number
  /** Taken in its workspace's turn (else it goes through `turnAt` as a new one). */
  readonly inTurn: boolean
}

/**
 * The longest a run keeps a throttled todo for a later try; beyond it, the todo is handed back
 * with its wait. Also how long a run goes on while the service refuses every request (from the
 * first refusal after the last accepted answer: time spent refused, not time since the last
 * answer, so a long wait before one refusal does not end a run): then it stops and leaves the rest
 * for a later run.
 */
export const longestWaitMs = 60_000

/** Todos waiting that do not hold the claims back (past them, each counts as one in hand). */
export const asideFree = 5000

/**
 * How far ahead a todo waits in hand for its workspace's turn; one whose turn is further off is
 * handed back until then (the run claims it again), so that the todos of a slow workspace do not
 * fill the run's hands while the others' wait in the ledger.
 */
export const turnHorizonMs = 2000
/** The longest a todo is handed back for its workspace's turn while its pace doubles (then claimed again, and handed back again if its turn is still far). */
export const turnHandBackMs = 5000

/**
 * What a run knows of a workspace once the service has turned requests away: when the service
 * accepted its requests in the last second; once refused itself, its hold, its pace and its queue.
 */
export interface Workspace<B> {
  /** When its accepted requests of the last second were answered (oldest first, from `first`). */
  readonly accepted: Array<number>
  first: number
  /** When it was last slowed: refusals of requests sent before say nothing new. */
  slowedAt: number
  holdUntil: number
  /** Requests a second (0: no pace yet), and its next turn. */
  perSecond: number
  nextTurn: number
  /** Its pace before its last step up, and the last pace refused at a step (0: none), which the next steps close in on. */
  beforeStep: number
  upper: number
  /** Its requests accepted and refused since the run was first throttled. */
  acceptedCount: number
  refused: number
  /** Doubling (until the service first refuses a step), or stepping by 10 %. */
  doubling: boolean
  steppedAt: number
  nextStepAt: number
  lastSeen: number
  /** Its todos waiting, in turn (from `head`). */
  readonly queue: Array<{ readonly todo: ClaimedTodo; readonly batch: B }>
  head: number
  /** When its first todo waiting may go (while queued among the ready ones). */
  readyAt: number
}

/** A workspace's pace: this share of the rate the service accepted of it before it refused... */
export const paceShare = 0.95
/** ...over the time since its last hold, a quarter of a second at least... */
const shortestMeasureMs = 250
/** ...never under one a second... */
export const slowestPace = 1
/** ...stepped up after 2 to 4 s without a refusal (by 10 %, or doubling each second at first)... */
const paceStep = 0.1
const stepEveryMs = 2000
/** While doubling, a step a second: as TCP's slow start doubles each round, a second being Retry-After's. */
export const doublingEveryMs = 1000
/** ...and a refusal within this long of a step is the workspace's own. */
export const stepBlameMs = 1000
/** A workspace refused this many times in a row, others accepted between, has a limit of its own (twice befalls one in W under the client's limit). */
export const refusalsInARow = 3
/** A workspace refused this many times, at this many times the client's share of refusals, has a limit of its own. */
export const oftenAfter = 6
export const oftenShare = 3
/** A workspace not seen for this long, and not waiting, is forgotten (memory stays flat over any number of workspaces). */
export const forgetAfterMs = 60_000

export const newWorkspace = <B>(now: number): Workspace<B> => ({
  accepted: [],
  first: 0,
  slowedAt: -Infinity,
  holdUntil: 0,
  perSecond: 0,
  nextTurn: 0,
  beforeStep: 0,
  upper: 0,
  acceptedCount: 0,
  refused: 0,
  doubling: true,
  steppedAt: -Infinity,
  nextStepAt: Infinity,
  lastSeen: now,
  queue: [],
  head: 0,
  readyAt: 0
})

export const forgetOld = <B>(workspace: Workspace<B>, now: number) => {
  const { accepted } = workspace
  while (workspace.first < accepted.length && accepted[workspace.first]! <= now - 1000) workspace.first++
  if (workspace.first > 32 && workspace.first * 2 > accepted.length) {
    accepted.splice(0, workspace.first)
    workspace.first = 0
  }
}
export const interval = <B>(workspace: Workspace<B>) => (workspace.perSecond > 0 ? 1000 / workspace.perSecond : 0)
export const soonest = <B>(workspace: Workspace<B>) => Math.max(workspace.holdUntil, workspace.nextTurn)
/** Takes the next turn of a paced one: how long until it (ms, 0: now). */
export const takeTurn = <B>(workspace: Workspace<B>, now: number) => {
  const at = Math.max(now, workspace.nextTurn)
  workspace.nextTurn = at + interval(workspace)
  return at - now
}
export const queued = <B>(workspace: Workspace<B>) => workspace.queue.length - workspace.head
// The rate the service accepted of it over the last second (since its last hold, when that is
// nearer; a quarter of a second at least, so that a burst's few do not make a fast pace).
export const learnPace = <B>(workspace: Workspace<B>, now: number) => {
  forgetOld(workspace, now)
  const from = Math.max(now - 1000, workspace.holdUntil)
  let count = 0
  for (let i = workspace.first; i < workspace.accepted.length; i++) if (workspace.accepted[i]! > from) count++
  const measured = (count * 1000) / Math.max(shortestMeasureMs, now - from)
  workspace.perSecond = Math.max(slowestPace, paceShare * measured)
}

/** How long until its next step: a second while doubling, else 2 to 4 s (`spread` in [0, 1)). */
export const nextStepIn = <B>(workspace: Workspace<B>, spread: () => number) =>
  workspace.doubling ? doublingEveryMs : stepEveryMs * (1 + spread())

/**
 * Refused while paced: a step refused within `stepBlameMs` is taken back (true: that pace is its
 * limit, found), else its limit fell and the pace halves (AIMD's decrease).
 */
export const refusedAtPace = <B>(workspace: Workspace<B>, now: number): boolean => {
  if (now - workspace.steppedAt < stepBlameMs) {
    workspace.doubling = false
    workspace.upper = workspace.perSecond
    workspace.perSecond = Math.max(slowestPace, workspace.beforeStep)
    workspace.steppedAt = -Infinity
    return true
  }
  workspace.perSecond = Math.max(slowestPace, workspace.perSecond / 2)
  return false
}

export const step = <B>(workspace: Workspace<B>, now: number, spread: () => number) => {
  workspace.beforeStep = workspace.perSecond
  // Halfway to the pace last refused at a step, while that is two steps of 10 % away or more (a bisection of
  // where the limit is); else 10 %.
  const halfway = workspace.upper >= workspace.perSecond * (1 + 2 * paceStep) ? (workspace.perSecond + workspace.upper) / 2 : 0
  if (halfway === 0) workspace.upper = 0
  workspace.perSecond = workspace.doubling
    ? workspace.perSecond * 2
    : halfway > 0 ? halfway : workspace.perSecond + Math.max(1, workspace.perSecond * paceStep)
  workspace.steppedAt = now
  workspace.nextStepAt = now + nextStepIn(workspace, spread)
}

