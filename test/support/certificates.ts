import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"

export interface Authority {
  readonly name: string
  /** The CA certificate's file (PEM), for DATABASE_CA_FILE or NODE_EXTRA_CA_CERTS. */
  readonly certFile: string
  readonly keyFile: string
}

export interface ServerCertificate {
  readonly cert: string
  readonly key: string
}

const openssl = (args: ReadonlyArray<string>) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] })

const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

/** A private certificate authority made with openssl, in its own temporary folder. */
export const makeAuthority = (name: string): Authority => {
  const folder = mkdtempSync(path.join(tmpdir(), "ca-"))
  const certFile = path.join(folder, "ca.crt")
  const keyFile = path.join(folder, "ca.key")
  openssl([
    "req", "-x509", ...ecKey, "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", `/CN=${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
  ])
  return { name, certFile, keyFile }
}

/** A server certificate for `names` (DNS names; IP addresses as "IP:…"), signed by `authority`. */
export const makeServerCertificate = (authority: Authority, names: ReadonlyArray<string>): ServerCertificate => {
  const folder = mkdtempSync(path.join(tmpdir(), "server-cert-"))
  const file = (name: string) => path.join(folder, name)
  const altNames = names.map((name) => (name.startsWith("IP:") ? name : `DNS:${name}`)).join(",")
  writeFileSync(
    file("ext.cnf"),
    `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`
  )
  openssl(["req", "-new", ...ecKey, "-keyout", file("server.key"), "-out", file("server.csr"), "-subj", `/CN=${names[0]}`])
  openssl([
    "x509", "-req", "-in", file("server.csr"), "-CA", authority.certFile, "-CAkey", authority.keyFile,
    "-CAcreateserial", "-out", file("server.crt"), "-days", "2", "-extfile", file("ext.cnf")
  ])
  return { cert: readFileSync(file("server.crt"), "utf8"), key: readFileSync(file("server.key"), "utf8") }
}
