import { Config, ConfigError, Effect, Either, Layer, Logger, LogLevel } from "effect"

const levels: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None,
  off: LogLevel.None
}

/** LOG_LEVEL, with the same names as --log-level (default info); `--log-level` overrides it for one run. */
export const logLevelConfig = Config.string("LOG_LEVEL").pipe(
  Config.withDefault("info"),
  Config.mapOrFail((name) =>
    name.toLowerCase() in levels
      ? Either.right(levels[name.toLowerCase()]!)
      : Either.left(
        ConfigError.InvalidData(["LOG_LEVEL"], `Expected one of ${Object.keys(levels).join(", ")} but received "${name}"`)
      )
  )
)

export const LoggerLive = Layer.unwrapEffect(Effect.map(logLevelConfig, (level) => Logger.minimumLogLevel(level)))
