/**
 * Settings as people write them, the same for every option and variable: durations ("90s",
 * "5m", "2h", "30d", "500ms", or Effect's "5 minutes") and integers, each with a range, checked
 * where it is read.
 */
import { Config, ConfigError, Duration, Either, Option } from "effect"
import type { VariableName } from "./Environment.js"

/** "90s", "5m", "2h", "30d", "500ms", or Effect's "5 minutes". */
export const parseDuration = (input: string): Option.Option<Duration.Duration> => {
  const short = /^(\d+)(ms|s|m|h|d)$/.exec(input.trim())
  if (short !== null) {
    const amount = Number(short[1])
    const unit = short[2] as "ms" | "s" | "m" | "h" | "d"
    return Option.some(
      ({ ms: Duration.millis, s: Duration.seconds, m: Duration.minutes, h: Duration.hours, d: Duration.days })[unit](amount)
    )
  }
  return Duration.decodeUnknown(input)
}

export interface DurationRange {
  readonly min: Duration.Duration
  readonly max: Duration.Duration
}

/** Why `duration` is out of `range`, or nothing when it is in. */
export const outOfRange = (duration: Duration.Duration, range: DurationRange): string | undefined =>
  Duration.lessThan(duration, range.min) || Duration.greaterThan(duration, range.max)
    ? `must be between ${Duration.format(range.min)} and ${Duration.format(range.max)}`
    : undefined

/** A duration variable, in the forms above and within `range`; a bad one is named with what was expected. */
export const durationConfig = (name: VariableName, fallback: Duration.Duration, range: DurationRange) =>
  Config.string(name).pipe(
    Config.option,
    Config.mapOrFail((text) => {
      if (Option.isNone(text)) return Either.right(fallback)
      const parsed = parseDuration(text.value)
      if (Option.isNone(parsed)) {
        return Either.left(ConfigError.InvalidData([name], "Expected a duration such as 500ms, 90s, 5m, 2h or 30d"))
      }
      const problem = outOfRange(parsed.value, range)
      return problem === undefined ? Either.right(parsed.value) : Either.left(ConfigError.InvalidData([name], problem))
    })
  )

/** Why `n` is outside [min, max], or nothing when it is in. */
export const outOfBounds = (n: number, min: number, max: number): string | undefined =>
  n >= min && n <= max ? undefined : `must be between ${min} and ${max}`

/** An integer variable within [min, max] (`fallback` without it: undefined for none); a bad one is named with its range. */
export const integerConfig = <D extends number | undefined>(name: VariableName, fallback: D, min: number, max: number) =>
  Config.integer(name).pipe(
    Config.option,
    Config.mapOrFail((n): Either.Either<number | D, ConfigError.ConfigError> => {
      if (Option.isNone(n)) return Either.right(fallback)
      const problem = outOfBounds(n.value, min, max)
      return problem === undefined ? Either.right(n.value) : Either.left(ConfigError.InvalidData([name], problem))
    })
  )
