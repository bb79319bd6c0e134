/**
 * `npm run mutants [-- --only name,...] [--no-campaign] [--stage-minutes 20]`: the mutation check (docs/development.md,
 * "The mutation check"). Each mutant of list.ts breaks one guarantee of the window, the record of
 * reads, the claims, the leases or throttling, by one edit of the source. For each, one at a time,
 * in a scratch copy of the working tree (the tree itself is never touched): the job is built, the
 * mutant's `first` test files run, then the whole suite, each until its first failure (vitest
 * --bail 1), and, when the suite lets the mutant through, the fault campaign runs on its fixed
 * seeds. A mutant is caught when one fails. Each stage has `--stage-minutes` (its process group
 * killed then, by coreutils' timeout): a stage that outlasts it is reported as such, not as a catch.
 * Every mutant must be caught; an edit that leaves the code as it was (the mutant not found) is an
 * error of this list, not a pass. Exits 1 when one is not caught.
 */
import { spawnSync } from "node:child_process"
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { mutants } from "./list.js"

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    "no-campaign": { type: "boolean", default: false },
    "stage-minutes": { type: "string", default: "20" }
  }
})
const stageSeconds = Math.round(Number(values["stage-minutes"]) * 60)
if (!(stageSeconds > 0)) {
  console.error(`--stage-minutes must be a positive number of minutes, not "${values["stage-minutes"]}"`)
  process.exit(2)
}
const root = path.resolve(import.meta.dirname, "../..")
const chosen = values.only === undefined ? mutants : mutants.filter((m) => values.only!.split(",").includes(m.name))

/**
 * Runs a command in `cwd` for `stageSeconds` at most (then its process group is killed: vitest's
 * workers and the test databases with it), its output to a log: "passed", "failed" or "timed out".
 */
const run = (cwd: string, log: string, command: string, args: ReadonlyArray<string>) => {
  const result = spawnSync("timeout", ["--kill-after=30", String(stageSeconds), command, ...args], {
    cwd,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, CI: "true" }
  })
  writeFileSync(log, `${result.stdout ?? ""}${result.stderr ?? ""}`, { flag: "a" })
  return result.status === 0 ? "passed" : result.status === 124 || result.status === 137 ? "timed out" : "failed"
}

/** A stage of a mutant's check: its name, and the command. */
type Stage = readonly [string, string, ReadonlyArray<string>]
const campaignSeeds = "15,110,471,3745,1363428548,3704346955,3550423125,6,3"
const survivors: Array<string> = []
const logs = mkdtempSync(path.join(tmpdir(), "mutants-logs-"))
console.log(`${chosen.length} mutant(s); logs in ${logs}`)
for (const mutant of chosen) {
  const scratch = mkdtempSync(path.join(tmpdir(), `mutant-${mutant.name}-`))
  try {
    cpSync(root, scratch, { recursive: true, filter: (source) => !/\/(node_modules|dist|\.git)(\/|$)/.test(source.slice(root.length)) })
    symlinkSync(path.join(root, "node_modules"), path.join(scratch, "node_modules"))
    const file = path.join(scratch, mutant.file)
    const text = readFileSync(file, "utf8")
    if (text.split(mutant.from).length !== 2) {
      console.log(`${mutant.name}: NOT APPLIED (its text is not in ${mutant.file} exactly once): fix the list`)
      survivors.push(mutant.name)
      continue
    }
    writeFileSync(file, text.replace(mutant.from, mutant.to))
    const log = path.join(logs, `${mutant.name}.log`)
    const started = Date.now()
    // Each stage in turn while the ones before passed: the build, the mutant's first tests, the suite, the campaign.
    const stages: Array<Stage> = [["the build", "node", ["scripts/build.mjs"]]]
    if (mutant.first !== undefined) stages.push(["its first tests", "npx", ["vitest", "run", "--bail", "1", ...mutant.first]])
    stages.push(["the suite", "npx", ["vitest", "run", "--bail", "1"]])
    if (!values["no-campaign"]) stages.push(["the campaign", "npx", ["tsx", "dev/campaign/main.ts", "--seeds", campaignSeeds]])
    let outcome: string | undefined
    for (const [stage, command, args] of stages) {
      const result = run(scratch, log, command, args)
      if (result === "passed") continue
      // Which test failed first: a catch by a test of another guarantee is worth a second look (a flaky test).
      const failed = /FAIL\s+(\S+\.test\.ts.*)/.exec(readFileSync(log, "utf8").replace(/\x1b\[[0-9;]*m/g, ""))?.[1]?.slice(0, 160)
      outcome = result === "timed out"
        ? `TIMED OUT in ${stage} (${stageSeconds} s): see the log`
        : `caught by ${stage}${stage.endsWith("tests") || stage === "the suite" ? ` (${failed ?? "see the log"})` : ""}`
      break
    }
    const seconds = Math.round((Date.now() - started) / 1000)
    console.log(`${mutant.name} (${mutant.breaks}): ${outcome ?? "SURVIVED"} in ${seconds} s`)
    if (outcome === undefined || outcome.startsWith("TIMED OUT")) survivors.push(mutant.name)
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}
console.log(survivors.length === 0 ? `All ${chosen.length} caught.` : `Not caught: ${survivors.join(", ")}`)
process.exit(survivors.length === 0 ? 0 : 1)
