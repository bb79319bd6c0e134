/**
 * How a notify service of the world behaves under load, as one scenario file says it
 * (dev/scenarios/*.yaml, after Vector's tests/data/adaptive-concurrency): how long it takes, whether
 * it queues behind workers, which limits it keeps (in flight, a rate over the client or over each
 * workspace, counted in a bucket or a sliding second), how it refuses (429 or 503, with
 * Retry-After in any of RFC 9110's forms, or none), how its limits change mid-run, whether it
 * loses requests on the way, and whether it is down or its auth service throttles. Plain arithmetic, no Effect: bench/cheap-notify.ts asks
 * it, per request, what to answer and when.
 */
import { bucket } from "./Limits.js"

/** Retry-After as a scenario writes it: seconds ("1", "0"), a date `date+Ns` in one of the three HTTP-date forms, anything else sent as is, or none. */
export type RetryAfterSpec = string | null

export interface Refusal {
  readonly status: number
  /** Sent as Retry-After: digits as seconds; `imf+2s`, `rfc850+2s`, `asctime+2s` as a date that far ahead; null for none; anything else verbatim. */
  readonly retryAfter: RetryAfterSpec
}

export interface ServiceLimits {
  /** Requests in flight at once before a refusal (0: none). */
  readonly inFlight?: number
  /** Requests a second over the client before a refusal (0: none). */
  readonly perSecond?: number
  /** Requests a second of each limited workspace before a refusal (0: none). */
  readonly workspacePerSecond?: number
  /** Which workspaces `workspacePerSecond` holds: all, or one in `every` (by the index in the workspace's id). */
  readonly limitedEvery?: number
  /** How a second is counted: a token bucket of a tenth of a second's requests, or a sliding window of the last 1,000 ms. */
  readonly window?: "bucket" | "sliding"
}

export interface Scenario {
  readonly description: string
  readonly service: ServiceLimits & {
    /** The service's own time per request, ms. */
    readonly latencyMs: number
    /** Up to this much more, uniformly at random, ms. */
    readonly jitterMs?: number
    /** A queue behind this many workers, each busy `latencyMs` a request (0: no queue, every request takes `latencyMs`). */
    readonly workers?: number
    readonly refuse?: Refusal
    /** Every notification answered with this status (a service that is down). */
    readonly downStatus?: number
    /**
     * One notification request in this many is lost on the way (a load balancer or a proxy that drops
     * a connection): never answered, nothing created, no worker busy with it.
     */
    readonly loseEvery?: number
    /** One token request in this many answered 429 with Retry-After: 1 (an auth service that throttles). */
    readonly authThrottleEvery?: number
    /** The limits from `afterMs` after the first notification on. */
    readonly changes?: ReadonlyArray<ServiceLimits & { readonly afterMs: number }>
  }
  /** The todos of the suite's run (small), and of the benchmark's (large). */
  readonly todos: { readonly count: number; readonly workspaces: number }
  readonly benchTodos?: { readonly count: number; readonly workspaces: number }
  /** Settings the job runs with (command-line flags), beyond the defaults. */
  readonly args?: ReadonlyArray<string>
  /** The band the suite holds the run to (see Expected). */
  readonly expect: Expected
  /** The benchmark's targets (the same fields, held at the large size). */
  readonly targets?: Expected
}

/** A band: each bound that is set must hold. */
export interface Expected {
  readonly exit?: number
  /** Every delayed todo sent exactly once. */
  readonly allSent?: boolean
  /** Attempts charged to todos (a throttled or overloaded answer charges none). */
  readonly charged?: number
  /** Of the service's capacity (from the scenario: workers, limits), the share of it the run reached, at least. */
  readonly throughputAtLeast?: number
  /** Refused requests over all notification requests, at most. */
  readonly refusedShareAtMost?: number
  /** Refused requests in any second, at most. */
  readonly refusedPerSecondAtMost?: number
  /** The most requests the service had in flight at once, at most. */
  readonly inFlightAtMost?: number
  /** ...and at least (a limit that did not collapse). */
  readonly mostInFlightAtLeast?: number
  /** The service's median time per answered notification (its queue included), at most this many times `latencyMs`. */
  readonly medianAtMostTimes?: number
}

const sliding = () => {
  const times: Array<number> = []
  return (perSecond: number, now: number): boolean => {
    while (times.length > 0 && times[0]! <= now - 1000) times.shift()
    if (times.length >= perSecond) return false
    times.push(now)
    return true
  }
}

/** The index a workspace's id ends with (the suite's ids are `00000000-0000-4000-8000-<12 digits>`). */
export const workspaceIndex = (workspaceId: string): number => Number.parseInt(workspaceId.slice(-12), 10) || 0

/** The suite's workspace ids, one per index. */
export const workspaceId = (index: number): string => `00000000-0000-4000-8000-${String(index).padStart(12, "0")}`

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
const two = (n: number) => String(n).padStart(2, "0")

/** Retry-After's value for a refusal at `now` (null: no header). */
export const retryAfterValue = (spec: RetryAfterSpec, now: number): string | null => {
  if (spec === null) return null
  const date = /^(imf|rfc850|asctime)\+(\d+)s$/.exec(spec)
  if (date === null) return spec
  // Whole seconds: an HTTP-date has no fraction, so the date is the next second at least.
  const d = new Date(Math.ceil(now / 1000) * 1000 + Number(date[2]) * 1000)
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`
  const month = months[d.getUTCMonth()]!
  switch (date[1]) {
    case "imf":
      return `${days[d.getUTCDay()]!.slice(0, 3)}, ${two(d.getUTCDate())} ${month} ${d.getUTCFullYear()} ${time} GMT`
    case "rfc850":
      return `${days[d.getUTCDay()]}, ${two(d.getUTCDate())}-${month}-${two(d.getUTCFullYear() % 100)} ${time} GMT`
    default:
      return `${days[d.getUTCDay()]!.slice(0, 3)} ${month} ${String(d.getUTCDate()).padStart(2, " ")} ${time} ${d.getUTCFullYear()}`
  }
}

/** What the service does with one notification request. */
export type Verdict =
  | { readonly _tag: "Refuse"; readonly status: number; readonly retryAfter: string | null }
  | { readonly _tag: "Serve"; readonly afterMs: number }
  | { readonly _tag: "Lose" }

/**
 * The service of `scenario`: `arrive` says what to do with a request of `workspaceId` at `now`; a
 * served request must `leave` once answered. Capacity is what the scenario's limits allow, in
 * requests a second (the throughput a perfect client reaches), given the workspaces of the run.
 */
export const makeServiceModel = (scenario: Scenario, random: () => number = Math.random) => {
  const service = scenario.service
  const refusal: Refusal = service.refuse ?? { status: 429, retryAfter: "1" }
  const counter = () => (service.window === "sliding" ? sliding() : bucket())
  const client = counter()
  const perWorkspace = new Map<string, ReturnType<typeof counter>>()
  let inFlight = 0
  let arrived = 0
  let firstAt: number | undefined
  // When each worker is next free (a queue behind `workers`).
  const workers = Array.from({ length: service.workers ?? 0 }, () => 0)

  const limitsAt = (now: number): ServiceLimits => {
    let limits: ServiceLimits = service
    for (const change of service.changes ?? []) {
      if (firstAt !== undefined && now >= firstAt + change.afterMs) limits = { ...limits, ...change }
    }
    return limits
  }
  const limited = (limits: ServiceLimits, workspaceId: string) =>
    (limits.workspacePerSecond ?? 0) > 0 && workspaceIndex(workspaceId) % (limits.limitedEvery ?? 1) === 0

  return {
    arrive: (workspaceId: string, now: number): Verdict => {
      firstAt ??= now
      arrived++
      if ((service.loseEvery ?? 0) > 0 && arrived % service.loseEvery! === 0) return { _tag: "Lose" }
      if (service.downStatus !== undefined) return { _tag: "Refuse", status: service.downStatus, retryAfter: null }
      const limits = limitsAt(now)
      const refuse = (): Verdict => ({ _tag: "Refuse", status: refusal.status, retryAfter: retryAfterValue(refusal.retryAfter, now) })
      if ((limits.inFlight ?? 0) > 0 && inFlight >= limits.inFlight!) return refuse()
      if ((limits.perSecond ?? 0) > 0 && !client(limits.perSecond!, now)) return refuse()
      if (limited(limits, workspaceId)) {
        let own = perWorkspace.get(workspaceId)
        if (own === undefined) perWorkspace.set(workspaceId, (own = counter()))
        if (!own(limits.workspacePerSecond!, now)) return refuse()
      }
      inFlight++
      const work = service.latencyMs + (service.jitterMs ?? 0) * random()
      if (workers.length === 0) return { _tag: "Serve", afterMs: work }
      // The worker free soonest takes it, after what it has queued.
      let soonest = 0
      for (let i = 1; i < workers.length; i++) if (workers[i]! < workers[soonest]!) soonest = i
      const start = Math.max(now, workers[soonest]!)
      workers[soonest] = start + work
      return { _tag: "Serve", afterMs: start + work - now }
    },
    leave: () => {
      inFlight--
    },
    inFlight: () => inFlight,
    /** Whether the auth service refuses token request number `n` (from 1). */
    authThrottles: (n: number) => (service.authThrottleEvery ?? 0) > 0 && n % service.authThrottleEvery! === 0
  }
}

/**
 * The most requests a second the scenario's service accepts from a run over `workspaces`
 * workspaces, at `limits` (Infinity: no limit but the client's own): the least of its workers'
 * pace, its limit in flight at its own time, its rate, and the sum of the workspaces' rates.
 */
export const capacityOf = (scenario: Scenario, workspaces: number, limits: ServiceLimits = scenario.service): number => {
  const service = scenario.service
  const bounds: Array<number> = []
  const ms = service.latencyMs + (service.jitterMs ?? 0) / 2
  if ((service.workers ?? 0) > 0) bounds.push((service.workers! * 1000) / ms)
  if ((limits.inFlight ?? 0) > 0) bounds.push((limits.inFlight! * 1000) / ms)
  if ((limits.perSecond ?? 0) > 0) bounds.push(limits.perSecond!)
  // The todos are spread evenly over the workspaces: a run cannot end before its limited
  // workspaces have sent theirs, each at its rate, whatever the free ones do.
  if ((limits.workspacePerSecond ?? 0) > 0) bounds.push(limits.workspacePerSecond! * workspaces)
  return bounds.length === 0 ? Infinity : Math.min(...bounds)
}
