import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { seedTodos } from "../../dev/seedTodos.js"
import { seedDatabase, TestDatabaseLive, TestDatabaseUrl } from "../support/database.js"
import { makeAuthority, makeServerCertificate } from "../support/certificates.js"
import { serveFakeNotifyLive, servicesEnv } from "../support/notify.js"
import { logLines, runBuilt } from "../support/process.js"

const owner = new Map<string, string>(seedTodos.map((todo) => [todo.id, todo.workspaceId]))

describe("HTTPS to SERVICES_URL with a private CA", () => {
  it.layer(TestDatabaseLive)((it) => {
    it.scoped("the job trusts the CA given in NODE_EXTRA_CA_CERTS, and refuses the service without it", () =>
      Effect.gen(function*() {
        yield* seedDatabase
        const authority = makeAuthority("Services CA")
        const fake = yield* serveFakeNotifyLive({
          workspaceOf: (id) => owner.get(id),
          tls: makeServerCertificate(authority, ["IP:127.0.0.1"])
        })
        expect(fake.url).toMatch(/^https:/)
        const env = { DATABASE_URL: yield* TestDatabaseUrl, ...servicesEnv(fake.url), NOTIFY_RETRIES: "0" }
        const args = ["send-delay-notifications", "--at", "2022-06-03"]

        const untrusted = yield* Effect.promise(() => runBuilt(args, { env }))
        expect(untrusted.code).toBe(3)
        expect(fake.state.notifications).toHaveLength(0)
        const failure = logLines(untrusted.stdout).find((line) => line.level === "ERROR")
        expect(String(failure?.error)).toMatch(/certificate/)

        yield* seedDatabase // the failed two are not due again for minutes: start over
        const trusted = yield* Effect.promise(() => runBuilt(args, { env: { ...env, NODE_EXTRA_CA_CERTS: authority.certFile } }))
        expect(trusted.code).toBe(0)
        expect(fake.state.notifications).toHaveLength(2)
      }))
  })
})
