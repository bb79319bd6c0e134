/**
 * The configuration of the auth and notify services, read by the layers that talk to them:
 * SERVICES_URL and the NOTIFY_* limits, each with its range (docs/configuration.md).
 */
import { Config, Duration } from "effect"
import { durationConfig, integerConfig } from "./Durations.js"
import { Env } from "./Environment.js"

/** SERVICES_URL: the base URL of the auth and notify services, without a trailing slash. */
export const servicesUrl = Config.string(Env.SERVICES_URL).pipe(
  Config.validate({
    message: "Expected an http:// or https:// URL",
    validation: (url) => URL.canParse(url) && ["http:", "https:"].includes(new URL(url).protocol)
  }),
  Config.map((url) => url.replace(/\/+$/, ""))
)

/** NOTIFY_TIMEOUT: the deadline of each whole request (connection, headers and body) to the notify and auth services. */
export const requestTimeout = durationConfig(Env.NOTIFY_TIMEOUT, Duration.seconds(10), {
  min: Duration.millis(10),
  max: Duration.minutes(10)
})

/** How the live client retries within a run; from NOTIFY_* variables. */
export interface RetryWithinRun {
  /** Each request's deadline (NOTIFY_TIMEOUT, default 10 seconds). */
  readonly timeout: Duration.Duration
  /** Further tries after the first (NOTIFY_RETRIES, default 3). */
  readonly retries: number
  /** First backoff, doubled each time, with jitter (NOTIFY_RETRY_BASE, default 250 millis). */
  readonly base: Duration.Duration
  /** No retry once the waits would add up to more than this (NOTIFY_RETRY_BUDGET, default 30 seconds). */
  readonly budget: Duration.Duration
}

export const retryConfig: Config.Config<RetryWithinRun> = Config.all({
  timeout: requestTimeout,
  retries: integerConfig(Env.NOTIFY_RETRIES, 3, 0, 10),
  base: durationConfig(Env.NOTIFY_RETRY_BASE, Duration.millis(250), { min: Duration.millis(1), max: Duration.minutes(1) }),
  budget: durationConfig(Env.NOTIFY_RETRY_BUDGET, Duration.seconds(30), { min: Duration.zero, max: Duration.minutes(10) })
})
