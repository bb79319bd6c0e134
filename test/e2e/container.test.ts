import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, TestServices } from "effect"
import { execFileSync, spawn } from "node:child_process"
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { seedTodos } from "../../dev/seedTodos.js"
import { TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { dockerfileStages, root, yamlDocuments } from "../support/deployment.js"
import { serveFakeNotifyLive } from "../support/notify.js"
import type { ProcessResult } from "../support/process.js"

const runtime = dockerfileStages().at(-1)!
const compose = yamlDocuments().find((d) => d.file === "compose.yaml")!.document

/**
 * An empty folder holding exactly what the runtime stage copies from the build stage (our dist/),
 * after the stage's RUN instructions ran in it, as root and with the stage's ENV, as they do in
 * `docker build`.
 */
const imageFolder = () => {
  const folder = mkdtempSync(path.join(tmpdir(), "image-"))
  chmodSync(folder, 0o755) // readable by user 1000, writable by root alone
  const workdir = runtime.workdir!
  for (const copy of runtime.copies) {
    expect(copy.from).toBe("build")
    for (const source of copy.sources) {
      const into = path.join(folder, path.relative(workdir, path.resolve(workdir, copy.target)))
      const target = copy.target.endsWith("/") ? path.join(into, path.basename(source)) : into
      mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 })
      copyFileSync(path.join(root, path.relative(workdir, source)), target)
    }
  }
  for (const run of runtime.runs) {
    execFileSync("sh", ["-c", run], { cwd: folder, env: { PATH: process.env.PATH ?? "", ...runtime.env }, stdio: ["ignore", "ignore", "inherit"] })
  }
  return folder
}

/** Runs the image's ENTRYPOINT with `args` (default: its CMD) in `folder`, as its USER when we are root. */
const runImage = (folder: string, env: Record<string, string>, args = runtime.cmd!) =>
  new Promise<ProcessResult>((resolve, reject) => {
    const [uid, gid] = runtime.user!.split(":").map(Number)
    const [command, ...entrypointArgs] = runtime.entrypoint!
    expect(command).toBe("node")
    const child = spawn(process.execPath, [...entrypointArgs, ...args], {
      cwd: folder,
      env: { PATH: process.env.PATH ?? "", ...runtime.env, ...env },
      ...(process.getuid?.() === 0 ? { uid: uid!, gid: gid ?? uid! } : {}),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })

/** compose.yaml's init.sql for this test's database, with a role of the test's own. */
const initSql = (database: string, role: string) =>
  readFileSync(path.join(root, "deploy/compose/init.sql"), "utf8")
    .replaceAll("DATABASE app", `DATABASE ${database}`)
    .replace(/(ROLE|TO|AUTHORIZATION) delay_notifications\b/g, `$1 ${role}`)

describe("the container's contents run a real job", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("dist/ alone, in an empty folder, as the image's non-root user, with compose's settings: migrate, then the default command", () =>
      Effect.gen(function*() {
        const folder = imageFolder()
        const cache = readdirSync(path.join(folder, "dist")).filter((file) => file.endsWith(".cache"))
        expect(cache).toHaveLength(1)
        expect(readdirSync(folder, { recursive: true }).sort())
          .toEqual(["dist", ...["job.cjs", "main.js", cache[0]!].map((file) => path.join("dist", file))].sort())
        for (let dir = folder; dir !== path.dirname(dir); dir = path.dirname(dir)) {
          expect(existsSync(path.join(dir, "node_modules"))).toBe(false)
        }

        const sql = yield* SqlClient.SqlClient
        const adminUrl = new URL(yield* TestDatabaseUrl)
        const database = adminUrl.pathname.slice(1)
        const role = `image_${database}`
        yield* Effect.acquireRelease(
          sql.unsafe(initSql(database, role)),
          () => sql.unsafe(`DROP SCHEMA IF EXISTS delay_notifications CASCADE; DROP OWNED BY ${role}; DROP ROLE ${role}`).pipe(Effect.orDie)
        )

        // compose's job settings, pointed at this test's database and an in-process fake.
        const jobEnv: Record<string, string> = compose.services.job.environment
        const fake = yield* serveFakeNotifyLive({ clientId: jobEnv.CLIENT_ID!, clientSecret: jobEnv.CLIENT_SECRET! })
        const databaseUrl = new URL(jobEnv.DATABASE_URL!)
        databaseUrl.username = role
        databaseUrl.host = adminUrl.host
        databaseUrl.pathname = `/${database}`
        const env = { ...jobEnv, DATABASE_URL: databaseUrl.toString(), SERVICES_URL: fake.url }

        const migrated = yield* Effect.promise(() => runImage(folder, env, compose.services.migrate.command))
        expect(migrated.stderr).toBe("")
        expect(migrated.code).toBe(0)
        const ran = yield* Effect.promise(() => runImage(folder, { ...env, LOG_LEVEL: "debug" }))
        expect(ran.code).toBe(0)
        // The image's start reads the code cache its build made.
        expect(ran.stdout + ran.stderr).toMatch(/Started\.\n\s+codeCache: used\n/)
        const today = DateTime.formatIsoDateUtc(yield* TestServices.provideLive(DateTime.now)) // the process's clock is real
        const delayed = seedTodos.filter((todo) => todo.dueDate <= today)
        expect(delayed.length).toBeGreaterThan(0)
        expect(fake.state.notifications.map((n) => n.message).sort())
          .toEqual(delayed.map((todo) => `Todo ${todo.id} is delayed`).sort())
      }))
  })
})
