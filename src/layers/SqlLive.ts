import { PgClient } from "@effect/sql-pg"
import { Config, ConfigError, Duration, Effect, Either, Layer, Option, Redacted } from "effect"
import type { ConnectionOptions } from "node:tls"
import { readSettingFile, secretConfig } from "../lib/Secrets.js"
import { DatabaseError } from "../services/TodoRepository.js"

const isPostgresUrl = (url: string): boolean =>
  URL.canParse(url) && ["postgres:", "postgresql:"].includes(new URL(url).protocol)

/** DATABASE_URL or the file DATABASE_URL_FILE names, checked for shape; redacted (it holds the password). */
const databaseUrl = secretConfig("DATABASE_URL").pipe(
  Config.mapOrFail((url) =>
    isPostgresUrl(Redacted.value(url))
      ? Either.right(url)
      : Either.left(ConfigError.InvalidData(["DATABASE_URL"], "Expected a postgres:// or postgresql:// URL"))
  )
)

/** The sslmode values the job honours, as libpq defines them. */
const sslModes = ["disable", "require", "verify-ca", "verify-full"] as const
type SslMode = (typeof sslModes)[number]

/** The connection's TLS settings and the URL without its ssl* parameters (pg would read them otherwise). */
export interface DatabaseConnection {
  readonly url: Redacted.Redacted<string>
  readonly ssl: ConnectionOptions | false
}

/**
 * libpq's meaning of `sslmode` (pg treats require and verify-ca as verify-full): `require`
 * encrypts without checking the certificate unless a CA is given (then it is verify-ca, as in
 * libpq); `verify-ca` checks the chain against the CA (DATABASE_CA_FILE or the URL's
 * `sslrootcert`, else Node's CAs); `verify-full` also checks the host name. No sslmode: no TLS.
 * `prefer` and `allow` (TLS if the server offers it) cannot be done by pg and are refused.
 */
export const databaseConnection = (
  url: Redacted.Redacted<string>,
  caFile: Option.Option<string>
): Either.Either<DatabaseConnection, ConfigError.ConfigError> =>
  Either.gen(function*() {
    const parsed = new URL(Redacted.value(url))
    const mode = parsed.searchParams.get("sslmode") ?? "disable"
    if (!(sslModes as ReadonlyArray<string>).includes(mode)) {
      return yield* Either.left(
        ConfigError.InvalidData(["DATABASE_URL"], `sslmode=${mode} is not supported; use ${sslModes.join(", ")}`)
      )
    }
    const read = (setting: string, file: string | null) =>
      file === null ? Either.right(undefined) : readSettingFile(setting, file)
    const rootCert = parsed.searchParams.get("sslrootcert")
    if (rootCert !== null && Option.isSome(caFile)) {
      return yield* Either.left(
        ConfigError.InvalidData(["DATABASE_CA_FILE"], "Set DATABASE_CA_FILE or sslrootcert in DATABASE_URL, not both")
      )
    }
    const ca = yield* read(
      rootCert === null ? "DATABASE_CA_FILE" : "DATABASE_URL sslrootcert",
      rootCert ?? Option.getOrNull(caFile)
    )
    const cert = yield* read("DATABASE_URL sslcert", parsed.searchParams.get("sslcert"))
    const key = yield* read("DATABASE_URL sslkey", parsed.searchParams.get("sslkey"))
    for (const name of ["sslmode", "sslrootcert", "sslcert", "sslkey", "ssl", "uselibpqcompat"]) {
      parsed.searchParams.delete(name)
    }
    const effective: SslMode = mode === "require" && ca !== undefined ? "verify-ca" : (mode as SslMode)
    const ssl: ConnectionOptions | false = effective === "disable" ? false : {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      rejectUnauthorized: effective !== "require",
      // verify-ca: the chain is checked, the host name is not.
      ...(effective === "verify-ca" ? { checkServerIdentity: () => undefined } : {})
    }
    return { url: Redacted.make(parsed.toString()), ssl }
  })

const connectionConfig = Config.all({
  url: databaseUrl,
  caFile: Config.option(Config.string("DATABASE_CA_FILE"))
}).pipe(Config.mapOrFail(({ caFile, url }) => databaseConnection(url, caFile)))

/** Node's codes for a server certificate that was not accepted. */
const certificateCodes = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

/** The error along the cause chain that carries Node's code for a refused server certificate. */
const refusedCertificate = (cause: unknown): (Error & { readonly code: string }) | undefined => {
  for (let current = cause, depth = 0; current instanceof Error && depth < 5; depth++) {
    if ("code" in current && typeof current.code === "string" && certificateCodes.has(current.code)) {
      return current as Error & { readonly code: string }
    }
    current = current.cause
  }
  return undefined
}

/** A connection failure; a refused server certificate says what to check. */
const connectionError = (cause: unknown) => {
  const refused = refusedCertificate(cause)
  return new DatabaseError({
    operation: "Connecting to the database",
    cause: refused === undefined ? cause : new Error(
      `the server's TLS certificate was not accepted (${refused.code}: ${refused.message}); ` +
        "check DATABASE_CA_FILE (or sslrootcert) and sslmode"
    )
  })
}

/** The one connection pool of the process, on DATABASE_URL (or DATABASE_URL_FILE), with TLS as sslmode says. */
export const SqlLive = Layer.unwrapEffect(Effect.map(connectionConfig, ({ ssl, url }) =>
  PgClient.layer({
    url,
    ...(ssl === false ? {} : { ssl }),
    applicationName: "delay-notifications",
    connectTimeout: Duration.seconds(5)
  }))).pipe(
    Layer.mapError((error) => ConfigError.isConfigError(error) ? error : connectionError(error))
  )
