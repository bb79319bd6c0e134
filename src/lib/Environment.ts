/**
 * Every environment variable the job reads, named once with its help. Each Config declaration
 * takes its name from here (`Env.DATABASE_URL`, or a helper typed with `VariableName`), and the
 * root command's --help lists them from here: the list cannot drift from what the job reads
 * (test/Settings.test.ts checks that no Config in src names a variable another way).
 */

/**
 * How --help lists a variable: a setting with its help; an option's variable (the flag's help
 * names it) or a limit by name; the help's own display.
 */
type Group = "setting" | "option" | "limit" | "display"

const variables = {
  DATABASE_URL: { group: "setting", help: "postgres://..., sslmode honoured; or DATABASE_URL_FILE" },
  DATABASE_CA_FILE: { group: "setting" },
  DATABASE_PREPARED_STATEMENTS: { group: "setting", help: "default on; off behind a pooler that cannot keep them" },
  SERVICES_URL: { group: "setting", help: "base URL of the auth and notify services" },
  CLIENT_ID: { group: "setting" },
  CLIENT_SECRET: { group: "setting", help: "or CLIENT_SECRET_FILE" },
  TODOS_TABLE: { group: "setting", help: "default todos; or schema.table" },
  LOG_LEVEL: { group: "setting", help: "default info" },
  LOG_FORMAT: { group: "setting", help: "auto, json or pretty" },
  TIME_ZONE: { group: "setting", help: "default UTC" },
  SCHEDULE: { group: "setting", help: "for schedule" },
  OTEL_EXPORTER_OTLP_ENDPOINT: { group: "setting", help: "export traces and metrics" },
  OTEL_EXPORTER_OTLP_HEADERS: { group: "setting", help: "key=value pairs sent with them" },
  OTEL_SERVICE_NAME: { group: "setting", help: "default delay-notifications" },
  // Read by @effect/opentelemetry's exporter itself.
  OTEL_RESOURCE_ATTRIBUTES: { group: "setting", help: "key=value pairs" },
  EFFECT_RUNTIME_METRICS: { group: "setting", help: "true exports Effect's fiber metrics too" },
  PUSHGATEWAY_URL: { group: "setting", help: "push each run's metrics there" },
  PUSHGATEWAY_INSTANCE: { group: "setting", help: "its instance label, default default" },
  CONCURRENCY: { group: "option" },
  FIXED_CONCURRENCY: { group: "option" },
  BATCH_SIZE: { group: "option" },
  RATE: { group: "option" },
  LEASE: { group: "option" },
  MAX_ATTEMPTS: { group: "option" },
  RETRY_DELAY: { group: "option" },
  GRACE_PERIOD: { group: "option" },
  OUTAGE_AFTER: { group: "option" },
  PROGRESS_EVERY: { group: "option" },
  FULL_PASS_EVERY: { group: "option" },
  MAX_RUN_TIME: { group: "option" },
  RETENTION: { group: "option" },
  PRUNE_MAX_SHARE: { group: "option" },
  NOTIFY_TIMEOUT: { group: "limit" },
  NOTIFY_RETRIES: { group: "limit" },
  NOTIFY_RETRY_BASE: { group: "limit" },
  NOTIFY_RETRY_BUDGET: { group: "limit" },
  DATABASE_CONNECT_TIMEOUT: { group: "limit" },
  DATABASE_TIMEOUT: { group: "limit" },
  DATABASE_STATEMENT_TIMEOUT: { group: "limit" },
  MIGRATE_LOCK_TIMEOUT: { group: "limit" },
  NO_COLOR: { group: "display", help: "plain help" }
} as const satisfies Record<string, { readonly group: Group; readonly help?: string }>

export type VariableName = keyof typeof variables

/** The variables' names, for Config declarations: `Config.string(Env.SERVICES_URL)`. */
export const Env = Object.fromEntries(Object.keys(variables).map((name) => [name, name])) as {
  readonly [K in VariableName]: K
}

const listed = (group: Group) =>
  Object.entries(variables)
    .filter(([, variable]) => variable.group === group)
    .map(([name, variable]) => ("help" in variable ? `${name} (${variable.help})` : name))
    .join(", ")

/** The root command's paragraph on the environment. */
export const environmentHelp = (): string =>
  `Environment: ${listed("setting")}; options also read ${listed("option")}; limits: ${listed("limit")}; ` +
  `${listed("display")}. Ranges and defaults: docs/configuration.md.`
