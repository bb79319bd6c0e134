/**
 * Effect's fiber metrics (effect_fiber_*) off unless EFFECT_RUNTIME_METRICS=true: they count the
 * runtime's own fibers and would be exported beside the job's metrics. Imported first by
 * src/main.ts, for its effect on load: libraries run effects on Effect's default runtime as their
 * modules load (@effect/cli's help text, for one), so that runtime's flags change before any other
 * module of the job is evaluated.
 */
import { Runtime, RuntimeFlags } from "effect"
import { Env } from "./Environment.js"

if (process.env[Env.EFFECT_RUNTIME_METRICS] !== "true") {
  const runtime = Runtime.defaultRuntime as { runtimeFlags: RuntimeFlags.RuntimeFlags }
  runtime.runtimeFlags = RuntimeFlags.disable(runtime.runtimeFlags, RuntimeFlags.RuntimeMetrics)
}
