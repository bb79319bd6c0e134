import { describe, expect, it } from "@effect/vitest"
import { random as seeded } from "../dev/campaign/Random.js"
import { makeGates } from "../src/run/Gates.js"

type Worker = "free" | "waiting" | "sending" | "away"

/**
 * Workers as Workers drives them, over random events: a worker told to look again asks whether it
 * may send, and sends or waits; a send ends (its worker may go off to write its batch first); a send
 * is taken for lost; the limit moves. After each event every worker that can move has moved; then
 * no worker under the limit may be left waiting while there is room for it.
 */
const simulate = (seed: number, workers: number, events: number) => {
  const random = seeded(seed).next
  let limit = 1 + Math.floor(random() * workers)
  const state: Array<Worker> = Array.from({ length: workers }, () => "free")
  const lostOne: Array<boolean> = Array.from({ length: workers }, () => false)
  const gates = makeGates(workers, () => limit, (index) => {
    if (state[index] === "waiting") state[index] = "free"
  })
  const settle = () => {
    for (let moved = true; moved;) {
      moved = false
      for (let i = 0; i < workers; i++) {
        if (state[i] !== "free") continue
        moved = true
        if (gates.mayGo(i)) {
          state[i] = "sending"
          gates.inFlight++
        } else {
          state[i] = "waiting"
          gates.wait(i)
        }
      }
    }
  }
  const pick = (wanted: Worker) => {
    const which = state.flatMap((s, i) => (s === wanted ? [i] : []))
    return which.length === 0 ? undefined : which[Math.floor(random() * which.length)]
  }
  for (let event = 0; event < events; event++) {
    const roll = random()
    const sending = pick("sending")
    const away = pick("away")
    if (roll < 0.55 && sending !== undefined) {
      gates.inFlight--
      if (lostOne[sending]) {
        lostOne[sending] = false
        gates.lost--
      }
      gates.sendEnded()
      // Off to write its batch (a round trip), or straight on to the next todo.
      state[sending] = random() < 0.3 ? "away" : "free"
    } else if (roll < 0.7 && away !== undefined) {
      state[away] = "free"
    } else if (roll < 0.85 && sending !== undefined && !lostOne[sending]) {
      lostOne[sending] = true
      gates.lost++
      gates.openAll()
    } else if (roll >= 0.85) {
      limit = 1 + Math.floor(random() * workers)
      gates.openAll()
    }
    settle()
    const room = limit - (gates.inFlight - gates.lost)
    const stranded = state.flatMap((s, i) => (s === "waiting" && i < limit + gates.lost ? [i] : []))
    if (room > 0 && stranded.length > 0) return { event, room, stranded, inFlight: gates.inFlight, lost: gates.lost, limit }
  }
  return undefined
}

describe("the workers' gates", () => {
  it("never leave room unused while a worker under the limit waits for it: limits that move, sends taken for lost, workers away writing (2,000 seeds)", () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const workers = 2 + (seed % 31)
      expect({ seed, stranded: simulate(seed, workers, 400) }).toEqual({ seed, stranded: undefined })
    }
  })
})
