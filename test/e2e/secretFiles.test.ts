import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted } from "effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { seedTodos } from "../../dev/seedTodos.js"
import { describeConfigError } from "../../src/lib/Errors.js"
import { secretConfig } from "../../src/lib/Secrets.js"
import { seedDatabase, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { clientSecret, serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { logLines, runBuilt } from "../support/process.js"

const owner = new Map<string, string>(seedTodos.map((todo) => [todo.id, todo.workspaceId]))

/** Files as Kubernetes mounts a Secret: one value per file, with a final newline. */
const secretFiles = (values: Record<string, string>) =>
  Effect.promise(async () => {
    const folder = await fs.mkdtemp(path.join(os.tmpdir(), "secrets-"))
    const files: Record<string, string> = {}
    for (const [name, value] of Object.entries(values)) {
      files[name] = path.join(folder, name)
      await fs.writeFile(files[name]!, `${value}\n`, { mode: 0o400 })
    }
    return files
  })

const read = (env: Record<string, string>) =>
  secretConfig("CLIENT_SECRET").pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
    Effect.map(Redacted.value),
    Effect.mapError(describeConfigError),
    Effect.either
  )

describe("secrets from files (CLIENT_SECRET_FILE, DATABASE_URL_FILE)", () => {
  it.effect("a secret comes from its variable or from its file, never both, and is named when missing or unreadable", () =>
    Effect.gen(function*() {
      const files = yield* secretFiles({ secret: "from-a-file" })
      expect(yield* read({ CLIENT_SECRET: "plain" })).toMatchObject({ right: "plain" })
      expect(yield* read({ CLIENT_SECRET_FILE: files.secret! })).toMatchObject({ right: "from-a-file" })
      expect(yield* read({ CLIENT_SECRET: "plain", CLIENT_SECRET_FILE: files.secret! }))
        .toMatchObject({ left: "CLIENT_SECRET: Set CLIENT_SECRET or CLIENT_SECRET_FILE, not both" })
      expect(yield* read({})).toMatchObject({ left: "CLIENT_SECRET is not set" })
      expect(yield* read({ CLIENT_SECRET_FILE: "/no/such/secret" }))
        .toMatchObject({ left: "CLIENT_SECRET_FILE: Cannot read the file /no/such/secret (ENOENT)" })
    }))

  it.layer(TestDatabaseLive)((it) => {
    it.scoped("the built job reads DATABASE_URL_FILE and CLIENT_SECRET_FILE; both forms of one is exit 1, one line", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const fake = yield* serveFakeNotifyLive({ workspaceOf: (id) => owner.get(id) })
        const databaseUrl = yield* TestDatabaseUrl
        const files = yield* secretFiles({ url: databaseUrl, secret: clientSecret })
        const { CLIENT_SECRET: _, ...services } = servicesEnv(fake.url)
        const env = { ...services, DATABASE_URL_FILE: files.url!, CLIENT_SECRET_FILE: files.secret! }
        const args = ["send-delay-notifications", "--at", "2022-06-03"]
        const fromFiles = yield* Effect.promise(() => runBuilt(args, { env }))
        expect(fromFiles.code).toBe(0)
        expect(fake.state.notifications).toHaveLength(2)

        const both = yield* Effect.promise(() => runBuilt(args, { env: { ...env, DATABASE_URL: databaseUrl } }))
        expect(both.code).toBe(1)
        const errors = logLines(both.stdout).filter((line) => line.level === "ERROR")
        expect(errors).toHaveLength(1)
        expect(errors[0]).toMatchObject({
          message: "Invalid configuration. Aborting job...",
          error: "DATABASE_URL: Set DATABASE_URL or DATABASE_URL_FILE, not both"
        })
        expect(both.stdout + both.stderr).not.toContain(clientSecret)
        expect(both.stdout + both.stderr).not.toContain(new URL(databaseUrl).password)
      }))
  })
})
