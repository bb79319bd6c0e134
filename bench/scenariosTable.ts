/**
 * The "The scenario suite" section of bench/RESULTS.md, from bench/results-scenarios.json
 * (written by bench/scenarios.ts): one row per scenario of dev/scenarios at its benchmark size,
 * each held to the scenario's targets, met or missed.
 */
import { existsSync, readFileSync } from "node:fs"
import type { Row } from "./scenarios.js"

export const scenariosBegin = "<!-- scenarios:begin -->"
export const scenariosEnd = "<!-- scenarios:end -->"

export const scenariosSection = (file: string): string => {
  if (!existsSync(file)) return ""
  const { measuredAt, rows } = JSON.parse(readFileSync(file, "utf8")) as { measuredAt: string; rows: ReadonlyArray<Row> }
  const met = rows.filter((r) => r.missed.length === 0).length
  return `${scenariosBegin}
## The scenario suite (dev/scenarios)

\`tsx bench/scenarios.ts\` (part of \`npm run bench\`): each notify service of dev/scenarios at its
benchmark size, served by dev/fakeNotify/ScenarioServer on this machine, the built CLI at its
defaults (plus the file's \`args\`), one run each, measured ${measuredAt.slice(0, 10)}. "Capacity" is what
the scenario's service allows (its workers, its limits: ServiceModel.capacityOf); the targets are the
file's \`targets\`. ${met} of ${rows.length} met.

| scenario | todos / workspaces | exit | sent a second (of the service's capacity) | refused | most refused in a second | most in flight | median answer | charged | targets |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.map((r) =>
    `| \`${r.scenario}\` | ${r.todos.toLocaleString("en")} / ${r.workspaces} | ${r.exit} | ${r.perSecond}${r.capacity === null ? "" : ` (${Math.round((100 * r.perSecond) / r.capacity)} % of ${r.capacity})`} | ` +
    `${(100 * r.refusedShare).toFixed(2)} % | ${r.mostRefusedInASecond} | ${r.mostInFlight} | ${r.medianMs} ms | ${r.charged} | ` +
    `${r.missed.length === 0 ? "met" : `**missed**: ${r.missed.join("; ")}`} |`
  ).join("\n")}
${scenariosEnd}
`
}
