/**
 * What the docs promise, held to the code: the configuration table to src/lib/Environment.ts and
 * to `--help` (the built job's), every relative link to a file and anchor that exist, every
 * variable the docs name to one the job reads, and the README's set-up commands to what CI runs.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Duration } from "effect"
import { afterFailure, defaultRetryPolicy } from "../src/domain/RetryPolicy.js"
import { reportOutcomes } from "../src/cli/RunReport.js"
import { Env } from "../src/lib/Environment.js"
import { anchorsOf, relativeLinksOf } from "./support/docs.js"
import { distMain } from "./support/process.js"

const root = path.resolve(import.meta.dirname, "..")
const pages = ["README.md", ...readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)]
const read = (file: string) => readFileSync(path.join(root, file), "utf8")
/** Every command, and the options --help gives every command that the docs do not list as the job's own. */
const jobCommands = ["send-delay-notifications", "schedule", "migrate", "status", "requeue", "prune"]
const builtIn = new Set(["--completions", "--log-level", "--wizard", "--version"])

/** The rows of docs/configuration.md's table of every flag and variable, as cells. */
const settingRows = () => {
  const page = read("docs/configuration.md")
  const table = page.slice(page.indexOf("| flag | variable | default | range | effect |"))
  return table.slice(0, table.indexOf("\n\n")).split("\n").slice(2).map((line) => {
    const [flag, variable, byDefault, range] = line.split("|").slice(1, -1).map((cell) => cell.trim())
    return { flag: flag!, variable: variable!, byDefault: byDefault!, range: range! }
  })
}

/** Each option of a command's --help: its flag, and the range, variable and default the help states. */
const helpOptions = (command: string) => {
  const help = execFileSync(process.execPath, [distMain, command, "--help"], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } })
  return help.split(/\n(?=--|\(-)/).filter((block) => block.startsWith("--")).map((block) => ({
    flag: /^--[a-z-]+/.exec(block)![0],
    range: /Range: (.+?)\. /.exec(block)?.[1],
    variable: /Env: ([A-Z_]+)/.exec(block)?.[1],
    byDefault: /Default: (.+?)\.\n/.exec(block)?.[1]
  }))
}

/** The backticked names in the docs that are environment variables, or look like one. */
const variablesNamed = () =>
  new Set(pages.flatMap((page) =>
    [...read(page).matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)`/g)].map((m) => m[1]!)
      .filter((name) => name in Env || name.includes("_"))
  ))

describe("the docs, held to the code", () => {
  it("the configuration table names every variable the job reads, and no other", () => {
    const inTable = new Set(settingRows().flatMap((row) => [...row.variable.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!)))
    expect(Object.keys(Env).filter((name) => !inTable.has(name))).toEqual([])
    // A secret may come from a file (NAME_FILE); NODE_* are Node's own.
    expect([...inTable].filter((name) => !(name in Env) && !(name.replace(/_FILE$/, "") in Env) && !name.startsWith("NODE_"))).toEqual([])
  })

  it("the configuration table gives every flag of --help, with the variable, default and range --help gives", () => {
    const rows = settingRows()
    for (const command of jobCommands) {
      for (const option of helpOptions(command).filter((o) => !builtIn.has(o.flag))) {
        const row = rows.find((r) => r.flag.includes(`\`${option.flag}\``))
        expect(row, `${command} ${option.flag}`).toBeDefined()
        if (option.variable !== undefined) expect(row!.variable, option.flag).toContain(`\`${option.variable}\``)
        if (option.range !== undefined) expect(row!.range, option.flag).toBe(option.range)
        if (option.byDefault !== undefined) expect(row!.byDefault, option.flag).toBe(option.byDefault)
      }
    }
  })

  it("every relative link in README.md and docs/ leads to a file, and to an anchor of it", () => {
    const broken: Array<string> = []
    for (const page of pages) {
      for (const link of relativeLinksOf(path.join(root, page))) {
        const [target, anchor] = link.split("#")
        const file = target === "" ? path.join(root, page) : path.resolve(path.dirname(path.join(root, page)), target!)
        if (!existsSync(file)) broken.push(`${page}: ${link}`)
        else if (anchor !== undefined && file.endsWith(".md") && !anchorsOf(file).has(anchor)) broken.push(`${page}: ${link}`)
      }
    }
    expect(broken).toEqual([])
  })

  it("every variable the docs name is one the job reads (or Node's, or a secret's file)", () => {
    const unknown = [...variablesNamed()].filter((name) =>
      !(name in Env) && !(name.replace(/_FILE$/, "") in Env) && !name.startsWith("NODE_") &&
      // The loader's switch for making a code cache, and a TLS error code the on-call table quotes.
      name !== "DELAY_NOTIFICATIONS_WRITE_CODE_CACHE" && !name.startsWith("ERR_")
    )
    expect(unknown).toEqual([])
  })

  it("CI runs the README's set-up commands as they are written", () => {
    const readme = read("README.md")
    const setUp = readme.slice(readme.indexOf("## Set up"))
    const block = /```sh\n([\s\S]*?)```/.exec(setUp)![1]!
    const commands = block.split("\n").map((line) => line.replace(/#.*$/, "").trim()).filter(Boolean)
    expect(commands).toEqual(["npm ci && npm run demo", "npm test"])
    const ci = read(".ci/run").split("\n").map((line) => line.trim())
    for (const command of commands) expect(ci, command).toContain(command)
  })

  it("the README's headline figures say the concurrency the benchmark holds the job to (bench/run.ts)", () => {
    const concurrency = /^const concurrency = (\d+)$/m.exec(read("bench/run.ts"))![1]
    const headline = read("README.md").split("\n## ")[0]!.replace(/\s+/g, " ")
    const expected = `with at most ${concurrency} requests in flight as the benchmark holds every contender`
    expect(headline.includes(expected), expected).toBe(true)
  })

  it("the retry schedule docs/design.md gives is the one the default policy makes: each wait, and their sum", () => {
    const waits: Array<Duration.Duration> = []
    for (let attempts = 1; ; attempts++) {
      const next = afterFailure(attempts, defaultRetryPolicy)
      if (next._tag === "DeadLetter") break
      waits.push(next.delay)
    }
    const minutes = waits.map((wait) => Duration.toMinutes(wait))
    const hours = Math.round(minutes.reduce((a, b) => a + b, 0) / 6) / 10
    const capped = minutes.filter((m) => m === Duration.toMinutes(defaultRetryPolicy.maxDelay)).length
    const doubling = minutes.slice(0, minutes.length - capped).join(", ").replace(/, (\d+)$/, " and $1")
    const text = read("docs/design.md").replace(/\s+/g, " ")
    const words = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
    const expected = `(default ${defaultRetryPolicy.maxAttempts}: the first try and ${words[waits.length]} more over about ${hours} hours, ` +
      `${doubling} minutes apart, then ${Duration.toHours(defaultRetryPolicy.maxDelay)} hours ${["", "once", "twice", "three times"][capped]})`
    expect(text.includes(expected), expected).toBe(true)
  })

  it("the README names every flag that has no environment variable of its own, and no other", () => {
    const without = new Set(jobCommands.flatMap((command) =>
      helpOptions(command).filter((option) => !builtIn.has(option.flag) && option.variable === undefined).map((option) => option.flag)
    ))
    const sentence = /^Most flags have an environment variable.*?\n\n/ms.exec(read("README.md"))?.[0] ?? ""
    expect(new Set([...sentence.matchAll(/`(--[a-z-]+)`/g)].map((m) => m[1]!))).toEqual(without)
  })

  it("docs/operations.md lists every outcome a report may give (src/cli/RunReport.ts), and no other", () => {
    const page = read("docs/operations.md").replace(/\s+/g, " ")
    const sentence = /`outcome` is (.*?)\. /.exec(page)![1]!
    expect(new Set([...sentence.matchAll(/`([A-Za-z-]+)`/g)].map((m) => m[1]!).filter((word) => !["error", "wouldSend"].includes(word))))
      .toEqual(new Set(reportOutcomes))
  })

  it("the synopsis of docs/configuration.md gives every option of each command's --help", () => {
    const page = read("docs/configuration.md")
    const synopsis = page.slice(page.indexOf("```\nnode dist/main.js send-delay-notifications"), page.indexOf("```", page.indexOf("```\nnode dist/main.js") + 3))
    const shared = new Set(helpOptions("send-delay-notifications").map((option) => option.flag))
    for (const command of jobCommands) {
      const own = helpOptions(command).map((option) => option.flag).filter((flag) => !builtIn.has(flag))
      // schedule's options past its own are send's, "[the tuning options above]".
      const line = synopsis.slice(synopsis.indexOf(command))
      for (const flag of own.filter((flag) => command !== "schedule" || !shared.has(flag))) {
        expect(line.includes(`[${flag}`) || line.includes(`${flag} `), `${command} ${flag}`).toBe(true)
      }
    }
  })
})
