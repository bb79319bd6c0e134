import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect } from "effect"
import { describeConfigError } from "../src/lib/Errors.js"
import { requestTimeout, retryConfig } from "../src/lib/ServicesConfig.js"

const read = <A>(config: Effect.Effect<A, import("effect").ConfigError.ConfigError>, env: Record<string, string>) =>
  config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("settings read from variables take the same forms as options, with ranges", () => {
  it.effect("NOTIFY_TIMEOUT takes 3s, 500ms or 2 minutes; 0 is refused, not taken as no timeout", () =>
    Effect.gen(function*() {
      expect(yield* read(requestTimeout, { NOTIFY_TIMEOUT: "3s" })).toEqual(Duration.seconds(3))
      expect(yield* read(requestTimeout, { NOTIFY_TIMEOUT: "500ms" })).toEqual(Duration.millis(500))
      expect(yield* read(requestTimeout, { NOTIFY_TIMEOUT: "2 minutes" })).toEqual(Duration.minutes(2))
      expect(yield* read(requestTimeout, {})).toEqual(Duration.seconds(10))
      const zero = yield* Effect.flip(read(requestTimeout, { NOTIFY_TIMEOUT: "0s" }))
      expect(describeConfigError(zero)).toBe("NOTIFY_TIMEOUT: must be between 10ms and 10m")
      const words = yield* Effect.flip(read(requestTimeout, { NOTIFY_TIMEOUT: "soon" }))
      expect(describeConfigError(words)).toBe("NOTIFY_TIMEOUT: Expected a duration such as 500ms, 90s, 5m, 2h or 30d")
    }))

  it.effect("NOTIFY_RETRIES and the retry waits are checked against their ranges", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(read(retryConfig, { NOTIFY_RETRIES: "50", NOTIFY_RETRY_BUDGET: "1d" }))
      expect(describeConfigError(error)).toBe("NOTIFY_RETRIES: must be between 0 and 10; NOTIFY_RETRY_BUDGET: must be between 0 and 10m")
    }))
})
