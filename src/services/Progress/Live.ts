/**
 * Progress on a terminal: one line at the bottom that rewrites itself, with the pretty log lines
 * printed above it (the line is cleared before each and drawn again after).
 */
import { DateTime, Effect, Layer, Logger } from "effect"
import { Progress, type ProgressSnapshot, shareDone } from "../Progress.js"

const width = 24
const number = new Intl.NumberFormat("en-US")

/** The bar's text: share done, counts, rate, the concurrency limit, and the estimated end. */
export const progressBarText = (snapshot: ProgressSnapshot): string => {
  const share = shareDone(snapshot)
  const filled = share === undefined ? 0 : Math.round(share * width)
  const bar = share === undefined ? "" : `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${Math.floor(share * 100)}% `
  return [
    `${bar}${number.format(snapshot.sent)} sent`,
    `${number.format(snapshot.failed + snapshot.deadLetters)} failed`,
    ...(snapshot.leftToClaim === undefined ? [] : [`${number.format(snapshot.leftToClaim)} left`]),
    `${number.format(Math.round(snapshot.perSecond))}/s`,
    `${snapshot.concurrency} in flight${snapshot.throttled === 0 ? "" : `, ${number.format(snapshot.throttled)} throttled`}`,
    ...(snapshot.enqueueing === undefined ? [] : [`adding the backlog (${snapshot.enqueueing.added}/${snapshot.enqueueing.of})`]),
    ...(snapshot.estimatedEnd === undefined ? [] : [`ends ~${DateTime.formatIso(snapshot.estimatedEnd).slice(11, 19)} UTC`])
  ].join(" · ")
}

/** The pretty logger with the bar kept below its lines, and the bar as the run's Progress. */
export const ProgressBarLive = (write: (text: string) => void = (text) => process.stdout.write(text)) => {
  let shown: string | undefined
  const clear = "\r\u001b[K"
  const logger = Logger.make<unknown, void>((options) => {
    if (shown !== undefined) write(clear)
    Logger.prettyLoggerDefault.log(options)
    if (shown !== undefined) write(shown)
  })
  return Layer.merge(
    Logger.replace(Logger.defaultLogger, logger),
    Layer.succeed(Progress, {
      report: (snapshot) =>
        Effect.sync(() => {
          shown = progressBarText(snapshot)
          write(`${clear}${shown}`)
        }),
      end: Effect.sync(() => {
        if (shown !== undefined) write("\n")
        shown = undefined
      })
    })
  )
}
