import { NodeHttpClient } from "@effect/platform-node"
import { Layer } from "effect"
import { NotificationClient } from "../services/NotificationClient.js"
import { TodoRepository } from "../services/TodoRepository.js"
import { SqlLive } from "./SqlLive.js"

/** Everything the job runs on in production: PostgreSQL and the notify service over HTTP. */
export const MainLive = Layer.mergeAll(
  TodoRepository.layer.pipe(Layer.provide(SqlLive)),
  NotificationClient.layer.pipe(Layer.provide(NodeHttpClient.layerUndici))
)
