/**
 * Which of a run's workers may send (Workers), as plain bookkeeping: worker i sends while i is
 * under the limit (plus the sends taken for lost, which hold no slot of it: LossTimer) and fewer
 * than the limit are in flight. A worker that may not waits on its own gate, and is told to look
 * again (`open`):
 * - every worker under the limit, when the limit or the sends taken for lost change;
 * - when a send ends, one waiter under the limit for each slot of room. A waiter that is over the
 *   limit by then (the sends taken for lost went down since it waited) is passed over, not woken
 *   in place of one that could send: room is never left while a worker under the limit waits for
 *   it, so a run cannot come to a stop with work in hand and nothing in flight.
 */

export interface Gates {
  /** Sends in flight, those taken for lost included. */
  inFlight: number
  /** Sends in flight taken for lost. */
  lost: number
  /** Whether worker `index` may send now; when not, it waits (`wait`) until `open` is called for it. */
  readonly mayGo: (index: number) => boolean
  /** Worker `index` waits: for room if it is under the limit, else for the limit to change. */
  readonly wait: (index: number) => void
  /** The limit or the sends taken for lost changed: every worker under the limit looks again. */
  readonly openAll: () => void
  /** A send ended (counted out of `inFlight`, and `lost` if it was): waiters woken into the room left. */
  readonly sendEnded: () => void
}

export const makeGates = (workers: number, limit: () => number, open: (index: number) => void): Gates => {
  // The workers under the limit that wait for room, the last to wait at the end.
  const waitingForRoom: Array<number> = []
  const gates: Gates = {
    inFlight: 0,
    lost: 0,
    mayGo: (index) => {
      const current = limit()
      return index < current + gates.lost && gates.inFlight - gates.lost < current
    },
    wait: (index) => {
      if (index < limit() + gates.lost) waitingForRoom.push(index)
    },
    openAll: () => {
      waitingForRoom.length = 0
      const upTo = Math.min(limit() + gates.lost, workers)
      for (let i = 0; i < upTo; i++) open(i)
    },
    sendEnded: () => {
      if (waitingForRoom.length === 0) return
      const current = limit()
      let room = current - (gates.inFlight - gates.lost)
      while (room > 0 && waitingForRoom.length > 0) {
        const index = waitingForRoom.pop()!
        // Over the limit now: a change of the limit opens its gate.
        if (index >= current + gates.lost) continue
        open(index)
        room--
      }
    }
  }
  return gates
}
