import { PgClient } from "@effect/sql-pg"
import { Config, ConfigError, Duration, Layer, Redacted } from "effect"
import { DatabaseError } from "../services/TodoRepository.js"

const isPostgresUrl = (url: string): boolean =>
  URL.canParse(url) && ["postgres:", "postgresql:"].includes(new URL(url).protocol)

/** DATABASE_URL, checked for shape and then redacted; no message ever shows it (it holds the password). */
const databaseUrl = Config.string("DATABASE_URL").pipe(
  Config.validate({ message: "Expected a postgres:// or postgresql:// URL", validation: isPostgresUrl }),
  Config.map(Redacted.make)
)

/** The one connection pool of the process, on DATABASE_URL. */
export const SqlLive = PgClient.layerConfig({
  url: databaseUrl,
  applicationName: Config.succeed("delay-notifications"),
  connectTimeout: Config.succeed(Duration.seconds(5))
}).pipe(
  Layer.mapError((error) =>
    ConfigError.isConfigError(error) ? error : new DatabaseError({ operation: "Connecting to the database", cause: error })
  )
)
