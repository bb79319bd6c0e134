/**
 * The wiring: which layers each command runs on. `AppLayers` is what the CLI needs (tests give
 * it test layers); `productionLayers` is the real one, on PostgreSQL and undici.
 */
import type { ConfigError } from "effect"
import { Layer } from "effect"
import type { DatabaseError, SchemaNotCurrent } from "../services/DatabaseErrors.js"
import type { LedgerAdmin } from "../services/LedgerAdmin.js"
import { LedgerAdminLive } from "../services/LedgerAdmin/Live.js"
import type { NotificationClient } from "../services/NotificationClient.js"
import { NotificationClientLive } from "../services/NotificationClient/Live.js"
import { TodoRepository } from "../services/TodoRepository.js"
import { TodoRepositoryLive } from "../services/TodoRepository/Live.js"
import { HttpLive } from "./HttpLive.js"
import { SqlLive } from "./SqlLive.js"

/** How building a command's services can fail: configuration, the database, an old schema. */
export type StartupError = ConfigError.ConfigError | DatabaseError | SchemaNotCurrent

/** What the commands run on: productionLayers in production, test layers in tests. */
export interface AppLayers {
  /** For send-delay-notifications: the ledger and the notify service. */
  readonly send: Layer.Layer<TodoRepository | NotificationClient, StartupError>
  /** For migrate, status, requeue and prune: the database alone. */
  readonly ledger: Layer.Layer<LedgerAdmin, StartupError>
}

/**
 * What the commands run on in production. Each command builds only its own layer (so `migrate`
 * and `status` need no SERVICES_URL), and a process runs one command: one connection pool.
 */
export const productionLayers: AppLayers = {
  send: Layer.mergeAll(TodoRepositoryLive, NotificationClientLive.pipe(Layer.provide(HttpLive)))
    .pipe(Layer.provide(SqlLive)),
  ledger: LedgerAdminLive.pipe(Layer.provide(SqlLive))
}
