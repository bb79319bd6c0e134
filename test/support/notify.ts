import { ConfigProvider, Effect, Layer, TestServices } from "effect"
import { type FakeNotifyOptions, serveFakeNotify } from "../../dev/fakeNotify/FakeNotify.js"
import { HttpLive } from "../../src/layers/HttpLive.js"
import { NotificationClientLive } from "../../src/services/NotificationClient/Live.js"
import { ServiceTokensLive } from "../../src/services/ServiceTokens/Live.js"

export const clientId = "todos"
export const clientSecret = "test-secret-Zq81"

/** The services' environment for a fake at `url`. */
export const servicesEnv = (url: string) => ({ SERVICES_URL: url, CLIENT_ID: clientId, CLIENT_SECRET: clientSecret })

/** The services' environment for the fake at `url` (and `env`) as the config, for a live layer and its HTTP. */
const configured = <A, E>(layer: Layer.Layer<A, E, Layer.Layer.Success<typeof HttpLive>>, url: string, env: Record<string, string>) => {
  const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries({ ...servicesEnv(url), ...env }))))
  return layer.pipe(Layer.provide(Layer.provide(HttpLive, config)), Layer.provide(config))
}

/** The live NotificationClient (undici, keep-alive) configured for the fake at `url`; `env` adds NOTIFY_* settings. */
export const liveClientLayer = (url: string, env: Record<string, string> = {}) => configured(NotificationClientLive, url, env)

/** The live ServiceTokens (the auth service's side of the client) configured for the fake at `url`. */
export const liveTokensLayer = (url: string) => configured(ServiceTokensLive, url, {})

/** A fake notify service on a free port for the scope, and the live client configured for it. */
export const fakeAndClient = (options: FakeNotifyOptions = {}, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const fake = yield* serveFakeNotify({ clientId, clientSecret, ...options })
    const client = yield* Layer.build(liveClientLayer(fake.url, env))
    return { fake, client }
  })

/**
 * The fake on live services, for tests whose job runs in another process: its tokens' exp and its
 * latency are real time, as the process's clock is.
 */
export const serveFakeNotifyLive = (options: Parameters<typeof serveFakeNotify>[0] = {}) =>
  TestServices.provideLive(serveFakeNotify({ clientId, clientSecret, ...options }))

/**
 * Sends that cannot take long (a 1 s deadline, two quick retries: at most 13 s in all), so a run
 * may use a lease of 20 s, which the tests wait out; a longer send could outlive such a claim and
 * is refused at start. Retries keep a slow answer on a loaded machine from failing a todo.
 */
export const shortSends = { NOTIFY_TIMEOUT: "1s", NOTIFY_RETRIES: "2", NOTIFY_RETRY_BASE: "10ms", NOTIFY_RETRY_BUDGET: "1s" }
