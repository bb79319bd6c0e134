/**
 * The names the job's metrics take in Prometheus, derived from how they are declared
 * (src/lib/Telemetry.ts: name, unit, instrument) by the rules of OpenTelemetry's Prometheus
 * compatibility specification, as an OpenTelemetry Collector's Prometheus exporter applies them
 * with its defaults (add_metric_suffixes; the same rules as Prometheus' own OTLP receiver):
 *
 * - the name is cut into words at every character outside [a-zA-Z0-9:], joined again with `_`
 *   (so dots become `_`, and runs of `_` become one);
 * - the unit, in UCUM, adds a word unless the name already has it: `s` is `seconds`, `ms`
 *   `milliseconds`, `By` `bytes`, and so on; `1` adds nothing; an annotation in braces
 *   (`{todo}`) adds nothing; `a/b` adds `a` and `per_b` (`per_second` for `/s`);
 * - a monotonic sum (a counter) ends in `total`, once;
 * - a gauge of unit `1` ends in `ratio`, once;
 * - a histogram is `_bucket` (with `le`), `_sum` and `_count` of that name.
 *
 * The dashboard (dashboard.ts) and the promtool tests (alerts.test.ts) take their names from here;
 * test/monitoring.test.ts holds the rules and the docs to it, and the end-to-end test holds what
 * the job exports and pushes to it.
 */
import { MetricDeclarations } from "../../src/lib/Telemetry.js"

/** An OTLP metric's kind: a monotonic sum is a counter, a non-monotonic one an up-down counter. */
export type Instrument = "counter" | "gauge" | "histogram" | "updown"

/** Main units as words (the specification's examples and the Collector's table). */
const unitWords: Record<string, string> = {
  d: "days", h: "hours", min: "minutes", s: "seconds", ms: "milliseconds", us: "microseconds", ns: "nanoseconds",
  By: "bytes", KiBy: "kibibytes", MiBy: "mebibytes", GiBy: "gibibytes", TiBy: "tibibytes",
  KBy: "kilobytes", MBy: "megabytes", GBy: "gigabytes", TBy: "terabytes",
  m: "meters", V: "volts", A: "amperes", J: "joules", W: "watts", g: "grams",
  Cel: "celsius", Hz: "hertz", "1": "", "%": "percent"
}
/** Units after a `/`, in the singular. */
const perUnitWords: Record<string, string> = { s: "second", m: "minute", h: "hour", d: "day", w: "week", mo: "month", y: "year" }

const words = (text: string) => text.split(/[^a-zA-Z0-9:]+/).filter((word) => word !== "")

/** The words a unit adds: its main part, then `per_…`; a part in braces or empty adds none. */
const unitSuffixes = (unit: string): [main: string, per: string] => {
  const [main = "", per] = unit.split("/", 2).map((part) => part.trim())
  const mainWord = main === "" || /[{}]/.test(main) ? "" : (unitWords[main] ?? main)
  const perWord = per === undefined || per === "" || /[{}]/.test(per) ? "" : `per_${perUnitWords[per] ?? per}`
  return [words(mainWord).join("_"), perWord]
}

/** A metric's name in Prometheus (for a histogram, the name its three series share). */
export const prometheusNameOf = (name: string, unit: string, instrument: Instrument): string => {
  let tokens = words(name)
  const [main, per] = unitSuffixes(unit)
  if (main !== "" && !tokens.includes(main)) tokens.push(main)
  if (per !== "" && !tokens.includes(per)) tokens.push(per)
  if (instrument === "counter") tokens = [...tokens.filter((token) => token !== "total"), "total"]
  if (unit === "1" && instrument === "gauge") tokens = [...tokens.filter((token) => token !== "ratio"), "ratio"]
  const joined = tokens.join("_")
  return /^[0-9]/.test(joined) ? `_${joined}` : joined
}

/** The series a metric is in Prometheus. */
export const seriesOf = (name: string, unit: string, instrument: Instrument): ReadonlyArray<string> => {
  const base = prometheusNameOf(name, unit, instrument)
  return instrument === "histogram" ? [`${base}_bucket`, `${base}_sum`, `${base}_count`] : [base]
}

/** Each of the job's metrics by its name in Prometheus (a histogram's: the name its series share). */
export const names = Object.fromEntries(
  Object.entries(MetricDeclarations).map(([key, { instrument, name, unit }]) => [key, prometheusNameOf(name, unit, instrument)])
) as Record<keyof typeof MetricDeclarations, string>

/** Every series the job's metrics are in Prometheus. */
export const allSeries = (): ReadonlySet<string> =>
  new Set(Object.values(MetricDeclarations).flatMap(({ instrument, name, unit }) => seriesOf(name, unit, instrument)))
