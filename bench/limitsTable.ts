/**
 * The "Limited notify services" section of bench/RESULTS.md, from bench/results-limits.json
 * (written by bench/limits.ts): each scenario's rows, medians of its runs, and its targets.
 */
import { existsSync, readFileSync } from "node:fs"
import type { LimitsMeasurement } from "./limits.js"

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const verdict = (ok: boolean) => (ok ? "met" : "missed")
const fmt = (n: number) => Math.round(n).toLocaleString("en")
const pct = (x: number) => `${(100 * x).toFixed(2)} %`

export const limitsSection = (file: string): string => {
  if (!existsSync(file)) return ""
  const all = JSON.parse(readFileSync(file, "utf8")) as Array<LimitsMeasurement>
  const groups = new Map<string, Array<LimitsMeasurement>>()
  for (const m of all) {
    const key = `${m.scenario}\u0000${m.setting}`
    groups.set(key, [...(groups.get(key) ?? []), m])
  }
  const row = (scenario: string, setting: string) => groups.get(`${scenario}\u0000${setting}`) ?? []
  const rate = (ms: ReadonlyArray<LimitsMeasurement>) => median(ms.map((m) => m.perSecond))
  const throttled = (ms: ReadonlyArray<LimitsMeasurement>) => median(ms.map((m) => m.throttledShare))
  const rows = [...groups.values()].map((ms) => {
    const m = ms[0]!
    const follow = ms.every((x) => x.followMs === undefined) ? "–" : ms.map((x) => `${fmt(x.followMs ?? NaN)} ms`).join(", ")
    return `| ${m.scenario} | ${m.setting} | ${ms.length} | ${(median(ms.map((x) => x.wallMs)) / 1000).toFixed(1)} s | ${fmt(rate(ms))} | ${pct(throttled(ms))} | ${ms.map((x) => x.exit).join(", ")} | ${fmt(median(ms.map((x) => x.sent)))} of ${fmt(m.of)} | ${follow} | ${fmt(median(ms.map((x) => x.mostInASecond)))} | ${fmt(median(ms.map((x) => x.unauthorized)))} | ${fmt(median(ms.map((x) => x.cpuUs)))} |`
  })
  const targets: Array<string> = []
  const allSent = (ms: ReadonlyArray<LimitsMeasurement>) => ms.every((m) => m.exit === "0" && m.sent === m.of)
  const inFlight = row("in-flight 16", "defaults")
  const fixed16 = row("in-flight 16", "--concurrency 16 --fixed-concurrency")
  if (inFlight.length > 0) {
    targets.push(
      `- Limit of 16 in flight at 20 ms (at most 800/s): ${fmt(rate(inFlight))}/s at defaults, ${(100 * rate(inFlight) / 800).toFixed(0)} % of 800/s and ${(100 * rate(inFlight) / rate(fixed16)).toFixed(0)} % of the best fixed setting (16, ${fmt(rate(fixed16))}/s) (target 90 % of the limit's throughput: ${verdict(rate(inFlight) >= 0.9 * 800)} against 800/s, ${verdict(rate(inFlight) >= 0.9 * rate(fixed16))} against what 16 in flight delivers); ${pct(throttled(inFlight))} throttled (target under 1 %: ${verdict(throttled(inFlight) < 0.01)}); exit 0 with every todo sent in the first run: ${verdict(allSent(inFlight))}.`
    )
  }
  const perSecond = row("500/s", "defaults")
  if (perSecond.length > 0) {
    targets.push(
      `- Rate limit of 500/s: ${fmt(rate(perSecond))}/s at defaults (target at least 450/s: ${verdict(rate(perSecond) >= 450)}); ${pct(throttled(perSecond))} throttled (target under 2 %: ${verdict(throttled(perSecond) < 0.02)}); exit 0, all sent: ${verdict(allSent(perSecond))}.`
    )
  }
  const drop = row("in-flight 32, then 8", "defaults")
  if (drop.length > 0) {
    const slowest = Math.max(...drop.map((m) => m.followMs ?? Infinity))
    targets.push(
      `- Limit dropping from 32 to 8 in flight after 6 s: followed within ${fmt(slowest)} ms in the slowest run (target 3 s: ${verdict(slowest <= 3000)}); ${pct(throttled(drop))} throttled (target under 2 %: ${verdict(throttled(drop) < 0.02)}); exit 0, all sent: ${verdict(allSent(drop))}.`
    )
  }
  const rateDrop = row("1,000/s, then 500/s", "defaults")
  if (rateDrop.length > 0) {
    const slowest = Math.max(...rateDrop.map((m) => m.followMs ?? Infinity))
    targets.push(
      `- Rate limit dropping from 1,000/s to 500/s after 4 s: followed within ${fmt(slowest)} ms in the slowest run; ${pct(throttled(rateDrop))} throttled; exit 0, all sent: ${verdict(allSent(rateDrop))}.`
    )
  }
  for (const latency of ["0", "20 ms"]) {
    const adaptive = row(`no limit, L = ${latency}`, "defaults")
    const old = row(`no limit, L = ${latency}`, "--concurrency 64 --fixed-concurrency")
    if (adaptive.length === 0 || old.length === 0) continue
    const ratio = rate(adaptive) / rate(old)
    targets.push(
      `- No limit, L = ${latency} (100,000 todos): ${fmt(rate(adaptive))}/s at defaults against ${fmt(rate(old))}/s at the fixed 64 of old, ${ratio.toFixed(2)} × (target at least 0.95: ${verdict(ratio >= 0.95)}); CPU ${fmt(median(adaptive.map((m) => m.cpuUs)))} against ${fmt(median(old.map((m) => m.cpuUs)))} µs per notification.`
    )
  }
  for (const n of [200, 450, 1000, 2000]) {
    const ms = row(`--rate ${n}, no limit`, `--rate ${n}`)
    if (ms.length === 0) continue
    const worst = Math.max(...ms.map((m) => m.mostInASecond))
    targets.push(
      `- \`--rate ${n}\` against a service without limits, 22 s: ${fmt(rate(ms))}/s, ${(100 * rate(ms) / n).toFixed(1)} % (target at least 95 %: ${verdict(rate(ms) >= 0.95 * n)}); at most ${fmt(worst)} requests in any second at the fake (target at most ${n}: ${verdict(worst <= n)}).`
    )
  }
  const opaque = row("opaque tokens of 2 s", "defaults")
  if (opaque.length > 0) {
    const expiries = Math.max(...opaque.map((m) => 3 * Math.ceil(m.wallMs / 2000)))
    const worst = Math.max(...opaque.map((m) => m.unauthorized))
    targets.push(
      `- Opaque tokens that expire every 2 s (3,000 notifications over 3 workspaces): ${fmt(worst)} answers 401 in the worst run, against at most one per workspace per expiry (${fmt(expiries)}): ${verdict(worst <= expiries)}; ${fmt(median(opaque.map((m) => m.tokenRequests)))} token requests (a token that lives less than the 30 s margin serves only the sends waiting for it).`
    )
  }
  return `
## Limited notify services

\`bench/limits.ts\` (part of \`npm run bench\`): the built CLI against bench/cheap-notify.mjs with
limits it does not publish (\`/__fake/limits\`), 429 with \`Retry-After: 1\` past them: a limit in
flight, a token bucket a second (a tenth of a second's burst), each also dropping mid-run. 20,000
todos over 100 workspaces, 10,000 delayed, the fake answering after 20 ms (as the issue measured);
100,000 over 1,000 for the rows without a limit. Each setting is run in turn, round after round.
"throttled" is the share of notification requests answered 429; "followed" the time from the drop
to the last 429 of the burst that follows it (a gap of 500 ms ends a burst); "most in a second" the
most requests the fake received in any window of a second; "401" its answers 401.

| service | job | runs | wall time | notifications/s | throttled | exit | sent | followed | most in a second | 401 | CPU µs / notification |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

${targets.join("\n")}
`
}
