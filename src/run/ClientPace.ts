/**
 * For Throttling: the whole client's pace, once the service refused it at a limit of one, and its
 * hold (a Retry-After for the whole client, or an overload), with the rates it is set from.
 */
import { makeRateMeter } from "../lib/RateMeter.js"
import { newWorkspace, nextStepIn, paceShare, refusedAtPace, slowestPace, step, stepBlameMs, takeTurn, type Workspace } from "./WorkspacePace.js"

/**
 * The rates the client's pace is set from are measured over half a second at least (RateMeter): a
 * burst into a rate's window at the start of a run (500 in 0.2 s, where 500 a second are allowed)
 * reads as twice the rate, not ten times; over a whole second, the first tenth of a second's few
 * answers of a service of fast answers read as a tenth of its rate, and the pace then doubles for
 * seconds before it is found (bench/NOTES.md).
 */
const firstMeasureMs = 500

/**
 * Whether the paced client's requests answered since its pace last came down were refused a third
 * of the time or more, three times at least: its limit fell, and it comes down again at once, not
 * a second later (a rate's window fills over a second; limits of the workspaces' own, met by a pace
 * stepped past them, refuse half of what is sent within it).
 */
const fellSinceCut = <B>(client: Workspace<B>) => client.refused >= 3 && 3 * client.refused >= client.acceptedCount + client.refused

/**
 * The whole client's pace (Throttling), refused at a limit of one, with `accepted` and `refused` a
 * second over the last second (over `firstMeasureMs` at least), `held` if the client was held in
 * it: at first 95 % of what was accepted, stepping as a workspace's does (doubling, then by 10 %,
 * halfway to a step refused); a step refused is taken back. Refused at its pace, 5 % less; or, when a
 * third of the requests or more were refused in a second it was not held in (a limit that fell), 95 %
 * of what was accepted, if that is less: fewer refusals are workspaces' own limits as often as the
 * client's, and following what is accepted down then follows the pace's own fall. True the first
 * time (the client is then held for the wait, once).
 */
const clientRefused = <B>(client: Workspace<B>, accepted: number, refused: number, held: boolean, now: number): boolean => {
  const measured = paceShare * accepted
  const fell = (!held && 3 * refused >= accepted + refused) || fellSinceCut(client)
  client.acceptedCount = client.refused = 0
  if (client.perSecond === 0) {
    client.perSecond = Math.max(slowestPace, measured)
    return true
  }
  if (now - client.steppedAt < stepBlameMs) {
    refusedAtPace(client, now)
    return false
  }
  client.perSecond = Math.max(slowestPace, Math.min(fell ? measured : Infinity, paceShare * client.perSecond))
  return false
}

export interface ClientPace {
  /** Until when the whole client is held (epoch ms; past: not held). */
  readonly heldUntil: () => number
  /** Holds the whole client until `until` at least. */
  readonly hold: (until: number) => void
  /** Whether it is paced. */
  readonly paced: () => boolean
  /** A request accepted at `now`; `tracking` once the run was throttled (then a paced client steps up). */
  readonly accepted: (now: number, tracking: boolean) => void
  /** A request refused at `now`, whoever's limit it was. */
  readonly refusal: (now: number) => void
  /**
   * The client's limit refused a request sent at `sentAt`, at a limit of one or once paced: paced
   * (held until `until` the first time), or its pace comes down (clientRefused), once a second at
   * most unless its limit fell; a step refused is taken back at once.
   */
  readonly refused: (until: number, sentAt: number, now: number) => void
  /** How long a send about to start waits for the client's turn (0: none); its turn is taken. */
  readonly gap: (now: number) => number
}

export const makeClientPace = (spread: () => number): ClientPace => {
  // A workspace's state serves the client's pace; its acceptedCount and refused count the answers
  // since the pace last came down (clientRefused sets both to 0), not since the run was throttled.
  const client = newWorkspace<never>(0)
  let heldUntil = 0
  const [meter, refusals] = [makeRateMeter(), makeRateMeter()]
  return {
    heldUntil: () => heldUntil,
    hold: (until) => {
      heldUntil = Math.max(heldUntil, until)
    },
    paced: () => client.perSecond > 0,
    accepted: (now, tracking) => {
      meter.add(now)
      if (!tracking || client.perSecond === 0) return
      client.acceptedCount++
      if (now >= client.nextStepAt) step(client, now, spread)
    },
    refusal: (now) => refusals.add(now),
    refused: (until, sentAt, now) => {
      if (sentAt < client.slowedAt) return
      client.refused++
      if (client.perSecond > 0 && now - client.slowedAt < 1000 && now - client.steppedAt >= stepBlameMs && !fellSinceCut(client)) return
      client.slowedAt = now
      const held = now - heldUntil < 1000
      if (clientRefused(client, meter.perSecond(now, firstMeasureMs), refusals.perSecond(now, firstMeasureMs), held, now)) {
        heldUntil = client.holdUntil = Math.max(heldUntil, until)
      }
      client.nextStepAt = Math.max(now, client.holdUntil) + nextStepIn(client, spread)
    },
    gap: (now) => (client.perSecond === 0 ? 0 : takeTurn(client, now))
  }
}
