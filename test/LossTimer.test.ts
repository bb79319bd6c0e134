import { describe, expect, it } from "@effect/vitest"
import { makeLossTimer } from "../src/lib/LossTimer.js"

// The values follow RFC 6298, section 2, by hand: the first answer R gives SRTT = R and RTTVAR = R/2;
// each later answer R' gives RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|, then SRTT = 7/8 SRTT + 1/8 R';
// the timeout is SRTT + 4 RTTVAR, at least 1 s, and doubles after each loss (section 5.5).
describe("the loss timer (RFC 6298's retransmission timeout)", () => {
  it("is 1 s before any answer, and never under 1 s however fast the answers", () => {
    const timer = makeLossTimer()
    expect(timer.lostAfterMs()).toBe(1000)
    for (let i = 0; i < 50; i++) timer.answered(10)
    expect(timer.lostAfterMs()).toBe(1000)
  })

  it("follows slow answers: SRTT + 4 RTTVAR", () => {
    const timer = makeLossTimer()
    timer.answered(500)
    // 500 + 4 × 250
    expect(timer.lostAfterMs()).toBe(1500)
    timer.answered(300)
    // RTTVAR = 187.5 + 50 = 237.5; SRTT = 437.5 + 37.5 = 475; 475 + 950
    expect(timer.lostAfterMs()).toBe(1425)
  })

  it("doubles after each loss until an answer comes, up to a minute", () => {
    const timer = makeLossTimer()
    timer.answered(500)
    timer.lost()
    expect(timer.lostAfterMs()).toBe(3000)
    timer.lost()
    expect(timer.lostAfterMs()).toBe(6000)
    for (let i = 0; i < 10; i++) timer.lost()
    expect(timer.lostAfterMs()).toBe(60_000)
    timer.answered(500)
    // The backoff ends: RTTVAR = 187.5 + 0; SRTT = 500; 500 + 750
    expect(timer.lostAfterMs()).toBe(1250)
  })
})
