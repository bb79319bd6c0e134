/**
 * Logging: the minimum level (LOG_LEVEL, --log-level) and the format (LOG_FORMAT: JSON lines, or
 * pretty lines on a terminal with the progress bar below them), the annotations of every line in
 * a fixed order.
 */
import { Config, ConfigError, Effect, Either, Layer, Logger, LogLevel } from "effect"
import { Env } from "../lib/Environment.js"
import { ProgressBarLive } from "../services/Progress/Live.js"

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
export const logLevelConfig = Config.string(Env.LOG_LEVEL).pipe(
  Config.withDefault("info"),
  Config.mapOrFail((name) =>
    name.toLowerCase() in levels
      ? Either.right(levels[name.toLowerCase()]!)
      : Either.left(
        ConfigError.InvalidData([Env.LOG_LEVEL], `Expected one of ${Object.keys(levels).join(", ")} but received "${name}"`)
      )
  )
)

/** The minimum log level, from LOG_LEVEL. */
export const LogLevelLive = Layer.unwrapEffect(Effect.map(logLevelConfig, (level) => Logger.minimumLogLevel(level)))

/** LOG_FORMAT: json, pretty, or auto (the default: pretty on a terminal, JSON lines otherwise). */
export const logFormatConfig = Config.literal("auto", "json", "pretty")(Env.LOG_FORMAT).pipe(Config.withDefault("auto"))

/** Annotations that lead each line, in this order; the others follow in alphabetical order. */
const leading = ["runId", "workspaceId", "todoId"]

const rank = (key: string) => (leading.includes(key) ? leading.indexOf(key) : leading.length)

const ordered = (annotations: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b)))

/**
 * One JSON object per line, flat for log pipelines: timestamp, level, message, then the
 * annotations (runId on every line of a run; workspaceId and todoId on per-todo lines; the rest
 * alphabetically).
 */
export const jsonLineLogger = Logger.map(Logger.structuredLogger, (entry) =>
  JSON.stringify({
    timestamp: entry.timestamp,
    level: entry.logLevel,
    message: Array.isArray(entry.message) ? entry.message.map(String).join(" ") : entry.message,
    ...ordered(entry.annotations),
    ...(entry.cause === undefined ? {} : { cause: entry.cause })
  })).pipe(Logger.withConsoleLog)

/**
 * The process's logger for LOG_FORMAT, given whether stdout is a terminal; pretty lines on a
 * terminal come with the progress bar (layers/ProgressBar), elsewhere progress is a log line.
 */
export const logFormatLayer = (format: "auto" | "json" | "pretty", isTerminal: boolean) =>
  format === "json" || (format === "auto" && !isTerminal)
    ? Logger.replace(Logger.defaultLogger, jsonLineLogger)
    : isTerminal
    ? ProgressBarLive()
    : Logger.replace(Logger.defaultLogger, Logger.prettyLoggerDefault)
