/**
 * The port for the batch-job way of reporting metrics: at the end of each run (and of a migrate
 * that failed) the run's metrics are pushed to a store that outlives the process. Its live layer
 * (MetricsPush/Live.ts) pushes to a Prometheus Pushgateway when PUSHGATEWAY_URL is set; without
 * it, nothing is pushed and the run keeps no metric for it.
 */
import { Context, Effect } from "effect"

/** Where a run's metrics go when it ends; the default pushes nowhere. */
export class MetricsPush extends Context.Reference<MetricsPush>()("app/MetricsPush", {
  defaultValue: (): {
    /** Metrics leave the process this way: the run keeps them. */
    readonly enabled: boolean
    /** Sends what the job's metrics hold now; never fails (a failed push is logged). */
    readonly push: Effect.Effect<void>
  } => ({ enabled: false, push: Effect.void })
}) {}
