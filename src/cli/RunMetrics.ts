/**
 * What a run tells monitoring when it ends: its exit code, when it ended, when it last went
 * through its backlog, and its counts, as per-run gauges (a cron process lives for one run, so
 * its counters start at 0 every time), then the push to a Pushgateway if one is set. A `migrate`
 * that fails (the CronJob's init container) records the same way: the run it stands for failed.
 */
import { Clock, Effect } from "effect"
import type { RunSummary } from "../domain/RunSummary.js"
import { ExitCode } from "../ExitCode.js"
import { currentTelemetry, Metrics, pushMetrics } from "../lib/Telemetry.js"

/**
 * Whether a run went through its backlog: exit 0, or 3 (some todos failed and are tried again
 * later, or became dead letters, which alerts of their own watch). The one meaning of success
 * the alerts share (deploy/monitoring/alerts.yaml).
 */
export const wentThrough = (code: number): boolean => code === ExitCode.Success || code === ExitCode.SomeFailed

export const recordRunEnd = (code: number, summary?: RunSummary): Effect.Effect<void> =>
  Effect.gen(function*() {
    const telemetry = yield* currentTelemetry
    if (!telemetry.exported) return
    const now = Math.round((yield* Clock.currentTimeMillis) / 1000)
    telemetry.gauge(Metrics.runExitCode, code)
    telemetry.gauge(Metrics.runEnd, now)
    telemetry.gauge(Metrics.runSent, summary?.sent ?? 0)
    telemetry.gauge(Metrics.runFailed, summary?.failed ?? 0)
    telemetry.gauge(Metrics.runDeadLetters, summary?.deadLetters ?? 0)
    telemetry.gauge(Metrics.runThrottled, summary?.throttled ?? 0)
    if (wentThrough(code)) telemetry.gauge(Metrics.runLastSuccess, now)
    yield* pushMetrics
  })
