import { Layer } from "effect"
import type { AppLayers } from "../Cli.js"
import { LedgerAdmin } from "../services/LedgerAdmin.js"
import { NotificationClient } from "../services/NotificationClient.js"
import { TodoRepository } from "../services/TodoRepository.js"
import { HttpLive } from "./HttpLive.js"
import { SqlLive } from "./SqlLive.js"

/**
 * What the commands run on in production. Each command builds only its own layer (so `migrate`
 * and `status` need no SERVICES_URL), and a process runs one command: one connection pool.
 */
export const MainLive: AppLayers = {
  send: Layer.mergeAll(TodoRepository.layer, NotificationClient.layer.pipe(Layer.provide(HttpLive)))
    .pipe(Layer.provide(SqlLive)),
  ledger: LedgerAdmin.layer.pipe(Layer.provide(SqlLive))
}
