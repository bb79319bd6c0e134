/**
 * The PostgreSQL client of the process (@effect/sql-pg): DATABASE_URL (or its file) checked,
 * libpq's sslmode honoured with DATABASE_CA_FILE, a statement timeout, deadlines of the job's own
 * on every wait (lib/DatabaseDeadlines.ts), and connection errors described in one line (a TLS or
 * authentication failure says what to fix).
 */
import { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Config, ConfigError, Duration, Effect, Either, Layer, Option, Redacted } from "effect"
import type { ConnectionOptions } from "node:tls"
import { type DatabaseDeadlines, databaseDeadlinesConfig, NoAnswer } from "../lib/DatabaseDeadlines.js"
import { Env } from "../lib/Environment.js"
import { describeCause } from "../lib/Errors.js"
import { readSettingFile, secretConfig } from "../lib/Secrets.js"
import { DatabaseError } from "../services/DatabaseErrors.js"
import { closePool, GuardedPool } from "./GuardedPool.js"

const isPostgresUrl = (url: string): boolean =>
  URL.canParse(url) && ["postgres:", "postgresql:"].includes(new URL(url).protocol)

/** DATABASE_URL or the file DATABASE_URL_FILE names, checked for shape; redacted (it holds the password). */
const databaseUrl = secretConfig(Env.DATABASE_URL).pipe(
  Config.mapOrFail((url) =>
    isPostgresUrl(Redacted.value(url))
      ? Either.right(url)
      : Either.left(ConfigError.InvalidData([Env.DATABASE_URL], "Expected a postgres:// or postgresql:// URL"))
  )
)

/** The sslmode values the job honours, as libpq defines them. */
const sslModes = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const
type SslMode = (typeof sslModes)[number]

/** The connection's TLS settings and the URL without its ssl* parameters (pg would read them otherwise). */
export interface DatabaseConnection {
  readonly url: Redacted.Redacted<string>
  readonly ssl: ConnectionOptions | false
  /** The sslmode in force (for the start-up debug line); `prefer` falls back to plain text when the server offers no TLS. */
  readonly mode: SslMode
}

/**
 * libpq's meaning of `sslmode` (pg treats require and verify-ca as verify-full): `require`
 * encrypts without checking the certificate unless a CA is given (then it is verify-ca, as in
 * libpq); `verify-ca` checks the chain against the CA (DATABASE_CA_FILE or the URL's
 * `sslrootcert`, else Node's CAs); `verify-full` also checks the host name; `prefer` (also when
 * no sslmode is given, as in libpq) encrypts when the server offers TLS, else connects in plain
 * text; a CA given without sslmode means `verify-full`. `allow` is refused.
 */
export const databaseConnection = (
  url: Redacted.Redacted<string>,
  caFile: Option.Option<string>,
  statementTimeout: Duration.Duration = Duration.minutes(1)
): Either.Either<DatabaseConnection, ConfigError.ConfigError> =>
  Either.gen(function*() {
    const parsed = new URL(Redacted.value(url))
    // libpq's default is prefer; a CA given without a mode means the certificate is to be checked.
    const mode = parsed.searchParams.get("sslmode") ?? (Option.isSome(caFile) ? "verify-full" : "prefer")
    if (!(sslModes as ReadonlyArray<string>).includes(mode)) {
      return yield* Either.left(
        ConfigError.InvalidData([Env.DATABASE_URL], `sslmode=${mode} is not supported; use ${sslModes.join(", ")}`)
      )
    }
    const read = (setting: string, file: string | null) =>
      file === null ? Either.right(undefined) : readSettingFile(setting, file)
    const rootCert = parsed.searchParams.get("sslrootcert")
    if (rootCert !== null && Option.isSome(caFile)) {
      return yield* Either.left(
        ConfigError.InvalidData([Env.DATABASE_CA_FILE], "Set DATABASE_CA_FILE or sslrootcert in DATABASE_URL, not both")
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
    // Every session of the job: dates leave PostgreSQL in ISO form whatever the role's DateStyle,
    // and no statement runs longer than DATABASE_STATEMENT_TIMEOUT.
    parsed.searchParams.set(
      "options",
      [
        parsed.searchParams.get("options"),
        "-c DateStyle=ISO,MDY",
        "-c IntervalStyle=postgres",
        `-c statement_timeout=${Math.round(Duration.toMillis(statementTimeout))}`
      ].filter((o) => o !== null).join(" ")
    )
    const effective: SslMode = mode === "require" && ca !== undefined ? "verify-ca" : (mode as SslMode)
    const ssl: ConnectionOptions | false = effective === "disable" ? false : {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      rejectUnauthorized: effective !== "require" && effective !== "prefer",
      // verify-ca: the chain is checked, the host name is not.
      ...(effective === "verify-ca" ? { checkServerIdentity: () => undefined } : {})
    }
    return { url: Redacted.make(parsed.toString()), ssl, mode: effective }
  })

const connectionConfig = Config.all({
  url: databaseUrl,
  caFile: Config.option(Config.string(Env.DATABASE_CA_FILE)),
  deadlines: databaseDeadlinesConfig,
  // Statements a connection runs again are prepared on the server (layers/GuardedPool.ts); off for
  // a pooler in transaction mode that cannot follow named statements (PgBouncer before 1.21).
  prepare: Config.boolean(Env.DATABASE_PREPARED_STATEMENTS).pipe(Config.withDefault(true))
}).pipe(
  Config.mapOrFail(({ caFile, deadlines, prepare, url }) =>
    Either.map(databaseConnection(url, caFile, deadlines.statement), (connection) => ({ ...connection, deadlines, prepare }))
  )
)

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

/**
 * The pool: connections opened within DATABASE_CONNECT_TIMEOUT, TCP keepalive on each (a dead
 * idle connection is found by the kernel, not by the next statement), and every statement within
 * its deadline (DATABASE_TIMEOUT unless its fiber says otherwise: lib/DatabaseDeadlines.ts).
 */
const poolOn = (url: Redacted.Redacted<string>, ssl: ConnectionOptions | false, deadlines: DatabaseDeadlines, prepare: boolean) =>
  PgClient.layerFromPool({
    acquire: Effect.acquireRelease(
      Effect.suspend(() => {
        const pool = new GuardedPool({
          connectionString: Redacted.value(url),
          ...(ssl === false ? {} : { ssl }),
          application_name: "delay-notifications",
          connectionTimeoutMillis: Duration.toMillis(deadlines.connect),
          keepAlive: true,
          keepAliveInitialDelayMillis: 10_000
        }, { ms: Math.round(Duration.toMillis(deadlines.roundTrip)), setting: Env.DATABASE_TIMEOUT }, prepare)
        pool.on("error", () => {})
        return Effect.tryPromise({
          try: () => pool.query("SELECT 1"),
          catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
        }).pipe(
          Effect.timeoutFail({
            duration: deadlines.connect,
            onTimeout: () =>
              new SqlError({
                cause: new NoAnswer({ within: deadlines.connect, setting: Env.DATABASE_CONNECT_TIMEOUT }),
                message: "PgClient: Failed to connect"
              })
          }),
          Effect.tapError(() => closePool(pool)),
          Effect.as(pool)
        )
      }),
      // A connection the server no longer hears never ends on its own: the process does not wait for it.
      closePool
    ),
    applicationName: "delay-notifications"
  })

const offersNoTls = (error: unknown) => /does not support SSL connections/.test(describeCause(error))

/** The pool, and once it is connected a debug line saying which sslmode is in force. */
const poolSaying = (
  url: Redacted.Redacted<string>,
  ssl: ConnectionOptions | false,
  sslmode: string,
  deadlines: DatabaseDeadlines,
  prepare: boolean
) =>
  poolOn(url, ssl, deadlines, prepare).pipe(Layer.tap(() => Effect.logDebug("Database connection.").pipe(Effect.annotateLogs({ sslmode }))))

/**
 * The one connection pool of the process, on DATABASE_URL (or DATABASE_URL_FILE), with TLS as
 * sslmode says; without sslmode as libpq's `prefer`: encrypted when the server offers TLS.
 */
export const SqlLive = Layer.unwrapEffect(Effect.map(connectionConfig, ({ deadlines, mode, prepare, ssl, url }) =>
  mode !== "prefer"
    ? poolSaying(url, ssl, mode, deadlines, prepare)
    : poolSaying(url, ssl, "prefer (encrypted)", deadlines, prepare).pipe(
      Layer.catchAll((error) =>
        offersNoTls(error)
          ? poolSaying(url, false, "prefer (plain text: the server offers no TLS)", deadlines, prepare)
          : Layer.fail(error)
      )
    ))).pipe(
    Layer.mapError((error) => ConfigError.isConfigError(error) ? error : connectionError(error))
  )
