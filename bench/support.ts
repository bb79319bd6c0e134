/**
 * What the benchmarks share: the CPU time of processes of this machine, from /proc (a process's
 * own fields, and all that PostgreSQL has spent); a fresh database; the cheap fake notify service
 * in a process of its own.
 */
import { execFileSync, spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { freePort } from "../dev/embeddedPostgres.js"

const root = path.resolve(import.meta.dirname, "..")

/** A database `name` on the server (dropped first if it exists), and a client connected to it. */
export const freshDatabase = async (admin: pg.Client, serverUrl: string, name: string) => {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  const databaseUrl = url.toString()
  const db = new pg.Client({ connectionString: databaseUrl })
  await db.connect()
  return { db, databaseUrl }
}

/** bench/cheap-notify.mjs on a free port, answering after `latency` ms, once it listens. */
export const spawnCheapFake = async (latency: number, clientId: string, clientSecret: string) => {
  const port = await freePort()
  const child = spawn(process.execPath, ["bench/cheap-notify.mjs", String(port), String(latency)], {
    cwd: root,
    env: { ...process.env, CLIENT_ID: clientId, CLIENT_SECRET: clientSecret },
    stdio: ["ignore", "pipe", "inherit"]
  })
  await new Promise<void>((resolve) => child.stdout!.on("data", (chunk) => String(chunk).includes("listening") && resolve()))
  return { url: `http://127.0.0.1:${port}`, child }
}

/** The fields of /proc/<pid>/stat after the command name (state is [0], ppid [1], utime [11]...). */
export const procStat = (pid: number | string): Array<string> | undefined => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8")
    return text.slice(text.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}
const clockTicks = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

/**
 * The CPU time (user + system, µs) PostgreSQL has spent: its postmaster, the processes it has
 * reaped (backends of ended connections) and those alive (backends, autovacuum, WAL writer...).
 * NaN when the server is not a process of this machine (BENCH_DATABASE_URL elsewhere).
 */
export const postgresCpuMicros = (postmaster: number | undefined): number => {
  const own = postmaster === undefined ? undefined : procStat(postmaster)
  if (own === undefined) return NaN
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14])
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const child = procStat(entry)
    if (child !== undefined && Number(child[1]) === postmaster) ticks += Number(child[11]) + Number(child[12])
  }
  return (ticks / clockTicks) * 1e6
}
