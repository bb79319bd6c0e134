import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect } from "effect"
import { Env, environmentHelp } from "../src/lib/Environment.js"
import { describeConfigError } from "../src/lib/Errors.js"
import { requestTimeout, retryConfig } from "../src/lib/ServicesConfig.js"
import { documentedVariables, sourceFiles } from "./support/deployment.js"

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

describe("the environment variables the job reads", () => {
  const sources = sourceFiles("src")

  it("are named once, in lib/Environment: no Config in src names one by a string of its own", () => {
    const byHand = sources.flatMap(({ file, text }) =>
      [...text.matchAll(/(Config\.(string|redacted|integer|number|boolean|literal\([^)]*\))|durationConfig|integerConfig|secretConfig|InvalidData)\(\[?\s*"[A-Z][A-Z0-9_]+"/g)]
        .map((match) => `${file}: ${match[0]}`)
    )
    expect(byHand).toEqual([])
  })

  it("are all listed by --help, and docs/configuration.md names no other", () => {
    const help = environmentHelp()
    expect(Object.keys(Env).filter((name) => !help.includes(name))).toEqual([])
    const documented = [...documentedVariables()]
    // A secret may come from a file (NAME_FILE); NODE_* are Node's own.
    const known = (name: string) => name in Env || name.replace(/_FILE$/, "") in Env || name.startsWith("NODE_")
    expect(documented.filter((name) => !known(name))).toEqual([])
    expect(documented).toContain("OTEL_SERVICE_NAME")
  })
})
