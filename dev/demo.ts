/**
 * `npm run demo [-- --fail-status 422 | --services-down]`: the real job (dist/main.js) against an
 * embedded PostgreSQL holding the seed's todos and the fake notify service, then everything shut
 * down (also on Ctrl-C). Exits with the job's exit code, so a failing job fails the demo:
 * `--fail-status` makes the fake answer every notification with that status, `--services-down`
 * points the job at a port where nothing listens.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync, readdirSync, statSync } from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { devEnvironment } from "./devEnvironment.js"
import { freePort } from "./embeddedPostgres.js"

const { values: flags } = parseArgs({
  options: { "fail-status": { type: "string" }, "services-down": { type: "boolean", default: false } }
})

const root = path.resolve(import.meta.dirname, "..")
const main = path.join(root, "dist", "main.js")
/** What `npm run build` writes: the loader and the job it starts. */
const built = [main, path.join(root, "dist", "job.cjs")]

const newestSource = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const full = path.join(dir, entry.name)
    return Math.max(newest, entry.isDirectory() ? newestSource(full) : statSync(full).mtimeMs)
  }, 0)

/** Runs a process with inherited output; resolves with its exit code; killed if interrupted. */
const run = (command: string, args: Array<string>, env: Record<string, string> = {}) =>
  Effect.async<number>((resume) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: "inherit" })
    child.on("close", (code, signal) => resume(Effect.succeed(code ?? (signal === "SIGINT" ? 130 : 1))))
    return Effect.sync(() => child.kill("SIGTERM"))
  })

const buildIfNeeded = Effect.gen(function*() {
  const newest = newestSource(path.join(root, "src"))
  if (built.every((file) => existsSync(file) && statSync(file).mtimeMs >= newest)) return
  yield* Console.log("Building dist/ ...")
  const code = yield* run("npm", ["run", "--silent", "build"])
  if (code !== 0) return yield* Effect.dieMessage(`The build failed (exit ${code})`)
})

const demo = Effect.gen(function*() {
  yield* buildIfNeeded
  yield* Console.log("Starting an embedded PostgreSQL and the fake notify service ...")
  const failStatus = flags["fail-status"] === undefined ? undefined : Number(flags["fail-status"])
  const { env: devEnv, fake } = yield* devEnvironment(failStatus === undefined ? {} : { failEvery: 1, failStatus })
  const env = flags["services-down"]
    ? { ...devEnv, SERVICES_URL: `http://127.0.0.1:${yield* Effect.promise(freePort)}` }
    : devEnv
  yield* Console.log(`DATABASE_URL=${env.DATABASE_URL}\nSERVICES_URL=${env.SERVICES_URL}\n`)
  yield* Console.log("$ node dist/main.js migrate\n")
  const migrated = yield* run(process.execPath, [main, "migrate"], env)
  if (migrated !== 0) return migrated
  yield* Console.log("\n$ node dist/main.js send-delay-notifications --at 2022-06-03\n")
  const code = yield* run(process.execPath, [main, "send-delay-notifications", "--at", "2022-06-03"], {
    ...env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "debug"
  })
  yield* Console.log(`\nThe job exited with ${code}. The fake notify service recorded:`)
  for (const notification of fake.state.notifications) {
    yield* Console.log(`  workspace ${notification.workspaceId}: ${notification.message}`)
  }
  yield* Console.log("\n$ node dist/main.js send-delay-notifications --at 2022-06-03   # again: nothing is sent twice\n")
  const again = yield* run(process.execPath, [main, "send-delay-notifications", "--at", "2022-06-03"], env)
  yield* Console.log(`\nThe second run exited with ${again}; the fake recorded ${fake.state.notifications.length} notifications in all.`)
  yield* Console.log("\n$ node dist/main.js status\n")
  yield* run(process.execPath, [main, "status"], env)
  return code === 0 ? again : code
}).pipe(Effect.scoped)

demo.pipe(
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    teardown: (exit, onExit) => onExit(exit._tag === "Success" && typeof exit.value === "number" ? exit.value : 1)
  })
)
