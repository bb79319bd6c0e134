import { Config, Effect, Layer, Logger, LogLevel } from "effect"

/** LOG_LEVEL (default Info); `--log-level` overrides it for one run. */
export const LoggerLive = Layer.unwrapEffect(
  Config.logLevel("LOG_LEVEL").pipe(
    Config.withDefault(LogLevel.Info),
    Effect.map((level) => Logger.minimumLogLevel(level))
  )
)
