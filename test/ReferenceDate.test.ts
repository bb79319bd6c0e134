import { describe, expect, it } from "@effect/vitest"
import { DateTime, Either } from "effect"
import { parseReference, parseTimeZone, referenceDateOf } from "../src/domain/ReferenceDate.js"
import { CalendarDate, isDelayed } from "../src/domain/Todo.js"

const zone = (name: string) => Either.getOrThrow(parseTimeZone(name))
const at = (input: string, timeZone = "UTC") => Either.getOrUndefined(parseReference(input, zone(timeZone)))

describe("reference dates", () => {
  it("takes a date as written, and refuses impossible dates", () => {
    expect(at("2022-06-03")).toBe("2022-06-03")
    expect(at("2024-02-29")).toBe("2024-02-29")
    expect(at("2023-02-29")).toBeUndefined()
    expect(at("2022-06-31")).toBeUndefined()
    expect(at("03.06.2022")).toBeUndefined()
  })

  it("sees an instant in the time zone", () => {
    expect(at("2022-06-03T22:30:00Z")).toBe("2022-06-03")
    expect(at("2022-06-03T22:30:00Z", "Europe/Berlin")).toBe("2022-06-04")
    expect(at("2022-06-04T01:00:00+02:00", "UTC")).toBe("2022-06-03")
    expect(at("2022-06-03T02:00:00Z", "America/Los_Angeles")).toBe("2022-06-02")
    // An impossible date or time with an offset is refused, not rolled over (2022-02-30 is not 2022-03-02).
    expect(at("2022-02-30T10:00:00Z")).toBeUndefined()
    expect(at("2022-06-03T24:00:00Z")).toBeUndefined()
    expect(at("2022-06-03T10:60:00+02:00")).toBeUndefined()
  })

  it("reads a date-time without an offset as a wall-clock time in the zone", () => {
    expect(at("2022-06-03T23:59", "Asia/Tokyo")).toBe("2022-06-03")
    expect(at("2022-06-03 00:00:00", "America/Los_Angeles")).toBe("2022-06-03")
    expect(at("2022-06-03T24:00")).toBeUndefined()
  })

  it("refuses unknown time zones and accepts offsets", () => {
    expect(Either.isLeft(parseTimeZone("Mars/Olympus"))).toBe(true)
    expect(referenceDateOf(DateTime.unsafeMake("2022-06-03T23:00:00Z"), zone("+02:00"))).toBe("2022-06-04")
  })

  it("counts a todo due on the reference date as delayed, and one due the day after as not", () => {
    const reference = CalendarDate.make("2022-06-03")
    expect(isDelayed(CalendarDate.make("2022-06-03"), reference)).toBe(true)
    expect(isDelayed(CalendarDate.make("2021-12-31"), reference)).toBe(true)
    expect(isDelayed(CalendarDate.make("2022-06-04"), reference)).toBe(false)
  })
})
