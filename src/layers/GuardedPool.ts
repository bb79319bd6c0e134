/**
 * pg's pool with the job's rules: each statement within its deadline (pg's query_timeout, read
 * from the statement's fiber: lib/DatabaseDeadlines.ts), statements a connection runs again
 * prepared on the server, a connection handed back mid-statement destroyed, and statements still
 * running cancelled when the pool closes. layers/SqlLive.ts makes the job's one pool of it.
 */
import { Effect, Fiber, Option } from "effect"
import { createHash } from "node:crypto"
import Pg from "pg"
import { type Deadline, noAnswer, StatementDeadline } from "../lib/DatabaseDeadlines.js"

type QueryCallback = (error: Error | null, result: unknown) => void

/** pg's Client.query, as the pool's clients are called (a text or a config, values, a callback). */
type Query = (config: unknown, values?: unknown, callback?: QueryCallback) => unknown

/** The most statements prepared on one connection; texts past them run unnamed. */
const preparedPerConnection = 100

/**
 * The name a text runs under on this connection: none the first time, then a name derived from
 * the text, so that pg parses it on the server once and the server may keep its plan (PostgreSQL
 * plans it anew for its first five runs, then keeps the generic plan if it costs no more). As
 * pgJDBC's prepareThreshold and postgres.js's `prepare` do; `prepare` false (a pooler in
 * transaction mode that cannot follow named statements) sends every text unnamed.
 */
const nameOf = (client: Pg.PoolClient, text: string): string | undefined => {
  const internals = client as unknown as { __statements?: Map<string, string | number>; __named?: number }
  const seen = (internals.__statements ??= new Map())
  const known = seen.get(text)
  if (typeof known === "string") return known
  if (known === undefined) {
    // Texts run once are counted up to a bound (a connection of a long run sees few texts).
    if (seen.size < 10 * preparedPerConnection) seen.set(text, 1)
    return undefined
  }
  if ((internals.__named ?? 0) >= preparedPerConnection) return undefined
  const name = `dn_${createHash("sha1").update(text).digest("hex").slice(0, 24)}`
  internals.__named = (internals.__named ?? 0) + 1
  seen.set(text, name)
  return name
}

/**
 * The client's queries, while it is lent, carry `deadline` as pg's query_timeout (a cursor, which
 * the job does not use, is left as it is), and a name once their text runs again (`prepare`); a
 * query past the deadline fails with NoAnswer.
 */
const withDeadline = (client: Pg.PoolClient, deadline: Deadline, prepare: boolean) => {
  const internals = client as unknown as { query: Query; __query?: Query }
  const query: Query = (internals.__query ??= internals.query.bind(client))
  const named = (error: Error | null) => (error?.message === "Query read timeout" ? noAnswer(deadline) : error)
  internals.query = (config, values, callback) => {
    if (typeof config === "object" && config !== null && typeof (config as { submit?: unknown }).submit === "function") {
      return query(config, values, callback)
    }
    if (typeof values === "function") {
      callback = values as QueryCallback
      values = undefined
    }
    const text = typeof config === "string" ? config : (config as { readonly text?: unknown }).text
    // Only texts with parameters (which pg sends as one statement, never as a script of several).
    const args = values ?? (typeof config === "object" ? (config as { readonly values?: unknown }).values : undefined)
    const name = prepare && typeof text === "string" && Array.isArray(args) && args.length > 0 ? nameOf(client, text) : undefined
    const withTimeout = {
      ...(typeof config === "string" ? { text: config } : (config as object)),
      ...(name === undefined ? {} : { name }),
      ...(values === undefined ? {} : { values }),
      query_timeout: deadline.ms
    }
    return callback === undefined
      ? (query(withTimeout) as Promise<unknown>).catch((error: Error) => Promise.reject(named(error)))
      : query(withTimeout, (error: Error | null, result: unknown) => callback!(named(error), result))
  }
}

/** Whether a pooled client still has a statement on its connection (one the job stopped waiting for). */
const midStatement = (client: Pg.PoolClient): boolean => {
  const internals = client as unknown as { readonly _activeQuery?: unknown; readonly _queryQueue?: ReadonlyArray<unknown> }
  return internals._activeQuery != null || (internals._queryQueue?.length ?? 0) > 0
}

/**
 * pg's pool, each lent client's queries within the deadline of the fiber that took it, and a
 * client handed back while a statement is still on its connection (past its deadline, or
 * interrupted) destroyed, never pooled again: @effect/sql-pg hands a client back as healthy after
 * an interrupted statement, and the next statement on a connection the server no longer hears
 * would hang in turn.
 */
export class GuardedPool extends Pg.Pool {
  /** The clients lent out now. */
  private readonly lent = new Set<Pg.PoolClient>()

  constructor(
    config: Pg.PoolConfig,
    private readonly defaultDeadline: Deadline,
    /** Whether statements a connection runs again are prepared on the server (DATABASE_PREPARED_STATEMENTS). */
    private readonly prepare = true
  ) {
    super(config)
  }

  override connect(): Promise<Pg.PoolClient>
  override connect(
    callback: (error: Error | undefined, client: Pg.PoolClient | undefined, release: (error?: Error | boolean) => void) => void
  ): void
  override connect(
    callback?: (error: Error | undefined, client: Pg.PoolClient | undefined, release: (error?: Error | boolean) => void) => void
  ): Promise<Pg.PoolClient> | void {
    // Called as a statement takes its connection, on the fiber that runs it: its deadline.
    const deadline = Option.match(Fiber.getCurrentFiber(), {
      onNone: () => undefined,
      onSome: (fiber) => fiber.getFiberRef(StatementDeadline)
    }) ?? this.defaultDeadline
    const guard = (client: Pg.PoolClient) => {
      const release = client.release.bind(client)
      this.lent.add(client)
      withDeadline(client, deadline, this.prepare)
      client.release = (error?: Error | boolean) => {
        this.lent.delete(client)
        return release(error ?? (midStatement(client) ? new Error("abandoned mid-statement") : undefined))
      }
      return client.release
    }
    if (callback === undefined) return super.connect().then((client) => (guard(client), client))
    super.connect((error: Error | undefined, client: Pg.PoolClient | undefined, release: (error?: Error | boolean) => void) =>
      client === undefined ? callback(error, client, release) : callback(error, client, guard(client))
    )
  }

  /**
   * Asks the server to cancel the statements still running on lent clients (ones the job let go
   * at a deadline or a stop), on a connection of its own, so that they do not go on holding
   * locks after the job is gone. Best effort: a server that does not answer is not waited for.
   */
  cancelRunning(): Promise<void> {
    const pids = [...this.lent].filter(midStatement).map((client) => (client as unknown as { processID?: number }).processID)
      .filter((pid): pid is number => typeof pid === "number")
    if (pids.length === 0) return Promise.resolve()
    const client = new Pg.Client(this.options)
    client.on("error", () => undefined)
    return client.connect()
      .then(() => client.query("SELECT pg_cancel_backend(pid) FROM unnest($1::int[]) AS pid", [pids]))
      .then(() => undefined, () => undefined)
      .finally(() => void client.end().catch(() => undefined))
  }
}

/** Ends the pool: statements still running cancelled, then its connections closed; at most a second for each. */
export const closePool = (pool: GuardedPool) =>
  Effect.promise(() => pool.cancelRunning()).pipe(
    Effect.interruptible,
    Effect.timeoutOption(1000),
    Effect.zipRight(Effect.promise(() => pool.end().catch(() => undefined)).pipe(Effect.interruptible, Effect.timeoutOption(1000)))
  )

