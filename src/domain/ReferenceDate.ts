/**
 * The reference date of a run: --at and TIME_ZONE parsed (a date, a date-time, a zone name or
 * an offset), and the calendar date of an instant in a zone. Refusals carry the message shown.
 */
import { DateTime, Either, Schema } from "effect"
import { CalendarDate } from "./Todo.js"

/** Why a `--at` value or time zone was refused; the message is shown to the user as is. */
export class InvalidReference extends Schema.TaggedError<InvalidReference>()("InvalidReference", {
  input: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.reason}: "${this.input}"`
  }
}

/** Resolves an IANA zone name ("UTC", "Europe/Berlin") or a fixed offset ("+02:00"). */
export const parseTimeZone = (input: string): Either.Either<DateTime.TimeZone, InvalidReference> =>
  Either.fromOption(
    DateTime.zoneFromString(input),
    () => new InvalidReference({ input, reason: "Unknown time zone (use an IANA name such as Europe/Berlin, or an offset such as +02:00)" })
  )

/** The calendar date of an instant as seen in a time zone. */
export const referenceDateOf = (instant: DateTime.DateTime, zone: DateTime.TimeZone): CalendarDate =>
  CalendarDate.make(DateTime.formatIsoDate(DateTime.setZone(instant, zone)))

const dateOnly = /^\d{4}-\d{2}-\d{2}$/
const localDateTime = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?$/
const offsetDateTime = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/

/** A time of day that exists (JavaScript's Date would roll 24:00 or a 30 February over). */
const realTime = (hours: string | undefined, minutes: string | undefined, seconds: string | undefined) =>
  Number(hours) <= 23 && Number(minutes) <= 59 && Number(seconds ?? 0) <= 59
const decodeDate = Schema.decodeUnknownEither(CalendarDate)

/**
 * Turns `--at` into a reference date. A date is taken as is; a date-time with an offset or `Z`
 * is an instant, seen in `zone`; a date-time without one is a wall-clock time in `zone`.
 */
export const parseReference = (
  input: string,
  zone: DateTime.TimeZone
): Either.Either<CalendarDate, InvalidReference> => {
  const invalid = () =>
    new InvalidReference({ input, reason: "Expected a date (2022-06-03) or a date-time (2022-06-03T23:30:00Z)" })
  if (dateOnly.test(input)) {
    return Either.mapLeft(decodeDate(input), invalid)
  }
  const local = localDateTime.exec(input)
  if (local !== null) {
    // A wall-clock time in the zone: its calendar date is the one written.
    const [, date, hours, minutes, seconds] = local
    return realTime(hours, minutes, seconds) ? Either.mapLeft(decodeDate(date), invalid) : Either.left(invalid())
  }
  const withOffset = offsetDateTime.exec(input)
  if (withOffset === null) return Either.left(invalid())
  const [, date, hours, minutes, seconds] = withOffset
  if (!realTime(hours, minutes, seconds)) return Either.left(invalid())
  return decodeDate(date).pipe(
    Either.mapLeft(invalid),
    Either.flatMap(() => Either.fromOption(DateTime.make(input), invalid)),
    Either.map((instant) => referenceDateOf(instant, zone))
  )
}
