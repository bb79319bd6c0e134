/**
 * The mutation check's mutants (dev/mutants/main.ts runs them): each breaks one guarantee of the
 * window, the record of reads, the claims, the leases or throttling, by one edit of the source.
 * test/mutants.test.ts holds each edit to the code as it is (its text found exactly once).
 */
export interface Mutant {
  readonly name: string
  /** The guarantee it breaks. */
  readonly breaks: string
  readonly file: string
  readonly from: string
  readonly to: string
  /** Test files run first, before the whole suite (only to find a catch sooner: the whole suite runs when they pass). */
  readonly first?: ReadonlyArray<string>
}

export const mutants: ReadonlyArray<Mutant> = [
  {
    name: "window-no-margin",
    breaks: "a window reads from two days before the last complete reference",
    file: "src/domain/Reading.ts",
    from: "export const windowMarginDays = 2",
    to: "export const windowMarginDays = 0",
    first: ["test/integration/Reading.test.ts", "test/ReferenceDate.test.ts"]
  },
  {
    name: "window-from-today",
    breaks: "a window starts at the last complete reference, not at the run's own",
    file: "src/domain/Reading.ts",
    from: "since: daysBefore(facts.lastReference, windowMarginDays)",
    to: "since: daysBefore(facts.reference, windowMarginDays)",
    first: ["test/integration/Reading.test.ts", "test/ReferenceDate.test.ts"]
  },
  {
    name: "replay-recorded-as-full",
    breaks: "a replay never stands for the full pass --full-pass-every waits for",
    file: "src/domain/Reading.ts",
    from: `reading.reason === "replay" ? "replay" : "full"`,
    to: `reading.reason === "replay" ? "full" : "full"`,
    first: ["test/integration/Reading.test.ts", "test/ReferenceDate.test.ts"]
  },
  {
    name: "future-record-trusted",
    breaks: "a record of reads dated after now is not trusted",
    file: "src/domain/Reading.ts",
    from: "if (futurePass || futureReference) {",
    to: "if (false) {",
    first: ["test/integration/Reading.test.ts", "test/ReferenceDate.test.ts"]
  },
  {
    name: "replay-starts-windows",
    breaks: "no window starts from a replay's reference",
    file: "src/services/TodoRepository/Passes.ts",
    from: "FROM ${passes} WHERE kind IN ('full', 'window')) AS \"lastReference\"",
    to: "FROM ${passes}) AS \"lastReference\"",
    first: ["test/integration/Reading.test.ts"]
  },
  {
    name: "clocks-unchecked",
    breaks: "one clock for today: a host clock far off the database's stops the run",
    file: "src/services/TodoRepository/Passes.ts",
    from: "Math.abs(hostNow - databaseNow) <= clockSkewMarginMs",
    to: "Math.abs(hostNow - databaseNow) >= 0",
    first: ["test/integration/Reading.test.ts"]
  },
  {
    name: "rewrite-unseen",
    breaks: "a full pass across a rewrite of the todos table is not recorded",
    file: "src/services/TodoRepository/Passes.ts",
    from: "sql`${fileOfTodos} IS NOT DISTINCT FROM ${started.file}`",
    to: "sql`true`",
    first: ["test/integration/Reading.test.ts"]
  },
  {
    name: "full-pass-never-due",
    breaks: "a full pass is read once --full-pass-every has passed",
    file: "src/domain/Reading.ts",
    from: "if (facts.now - facts.lastFullPassAt >= Duration.toMillis(facts.fullPassEvery))",
    to: "if (facts.now - facts.lastFullPassAt >= Infinity)",
    first: ["test/integration/Reading.test.ts", "test/ReferenceDate.test.ts"]
  },
  {
    name: "renewal-renews-nothing",
    breaks: "a live run's claims stay its own: renewals extend them",
    file: "src/run/Claims.ts",
    from: "run.repository.renew(options.runId, options.lease, held.flatMap((batch) => batch.items))",
    to: "run.repository.renew(options.runId, options.lease, [])",
    first: ["test/Leases.test.ts", "test/integration/Crash.test.ts"]
  },
  {
    name: "send-past-lease",
    breaks: "no send starts that could outlive its claim",
    file: "src/run/Workers.ts",
    from: "clock.unsafeCurrentTimeMillis() + run.longestSendMs > batch.deadline",
    to: "clock.unsafeCurrentTimeMillis() > batch.deadline + run.longestSendMs",
    first: ["test/Leases.test.ts", "test/Concurrency.test.ts"]
  },
  {
    name: "claim-ignores-lease",
    breaks: "a claim is taken only once the last one lapsed",
    file: "src/services/TodoRepository/Claims.ts",
    from: "AND (claim_expires_at IS NULL OR claim_expires_at <= ${now})\n            AND claimed_by IS DISTINCT FROM",
    to: "AND (claim_expires_at IS NULL OR claim_expires_at <= ${now} + interval '1 hour')\n            AND claimed_by IS DISTINCT FROM",
    first: ["test/integration/LedgerContract.test.ts", "test/integration/ExactlyOnce.test.ts"]
  },
  {
    name: "outcome-of-another-runs-batch",
    breaks: "only the run that holds a batch writes its todos' outcomes",
    file: "src/services/TodoRepository/Outcomes.ts",
    from: "WHERE claimed_by = ${owner}\n          ORDER BY id\n          FOR UPDATE",
    to: "WHERE claimed_by IS NOT NULL\n          ORDER BY id\n          FOR UPDATE",
    first: ["test/integration/LedgerContract.test.ts", "test/integration/TodoRepository.test.ts"]
  },
  {
    name: "claim-hands-out-past-its-size",
    breaks: "a claim hands out at most the todos asked for; the others stay claimable by other runs",
    file: "src/services/TodoRepository/Claims.ts",
    from: "AND rn <= ${size}),",
    to: "AND rn <= ${size} * 100),",
    first: ["test/integration/LedgerContract.test.ts"]
  },
  {
    name: "written-batch-kept",
    breaks: "a batch whose todos are all recorded goes: nothing pending is left behind it",
    file: "src/services/TodoRepository/Outcomes.ts",
    from: "WHERE b.id = c.batch AND cardinality(b.todo_ids) = c.n",
    to: "WHERE b.id = c.batch AND cardinality(b.todo_ids) = c.n + 1",
    first: ["test/integration/LedgerContract.test.ts", "test/integration/ExactlyOnce.test.ts"]
  },
  {
    name: "refusal-stop-from-each-refusal",
    breaks: "the refusal stop counts from the first refusal after the last accepted answer",
    file: "src/run/Throttling.ts",
    from: "refusingSince ??= now",
    to: "refusingSince = now",
    first: ["test/ConcurrencyLimit.test.ts", "test/Concurrency.test.ts"]
  },
  {
    name: "lost-requests-hold-slots",
    breaks: "a request that never answers does not hold the run",
    file: "src/run/Gates.ts",
    from: "return index < current + gates.lost && gates.inFlight - gates.lost < current",
    to: "return index < current && gates.inFlight < current",
    first: ["test/Leases.test.ts", "test/Concurrency.test.ts"]
  },
  {
    name: "room-left-to-a-waiter-over-the-limit",
    breaks: "a run never stops with work in hand and nothing in flight",
    file: "src/run/Gates.ts",
    from: "        if (index >= current + gates.lost) continue\n",
    to: "",
    first: ["test/Gates.test.ts"]
  },
  {
    name: "client-never-paced",
    breaks: "at a limit of one the client is paced, not paused at each refusal",
    file: "src/run/ClientPace.ts",
    from: "    client.perSecond = Math.max(slowestPace, measured)\n    return true",
    to: "    return true",
    first: ["test/ConcurrencyLimit.test.ts"]
  },
  {
    name: "client-pace-down-at-each-refusal",
    breaks: "a paced client comes down once a second at most, as a rate's window fills over a second",
    file: "src/run/ClientPace.ts",
    from: "if (client.perSecond > 0 && now - client.slowedAt < 1000 && now - client.steppedAt >= stepBlameMs && !fellSinceCut(client)) return",
    to: "",
    first: ["test/ConcurrencyLimit.test.ts"]
  },
  {
    name: "client-pace-waits-out-the-second",
    breaks: "a paced client whose answers since its last cut are a third refusals comes down at once, not a second later",
    file: "src/run/ClientPace.ts",
    from: " && !fellSinceCut(client)) return",
    to: ") return",
    first: ["test/ConcurrencyLimit.test.ts"]
  },
  {
    name: "client-pace-follows-every-fall",
    breaks: "a paced client follows the accepted rate down only when a third was refused, not the pace's own fall",
    file: "src/run/ClientPace.ts",
    from: "Math.min(fell ? measured : Infinity, paceShare * client.perSecond)",
    to: "Math.min(measured, paceShare * client.perSecond)",
    first: ["test/ConcurrencyLimit.test.ts"]
  },
  {
    name: "sends-waiting-for-a-turn-in-flight",
    breaks: "the limit grows only on what is in flight at the service, not on sends waiting for their turn",
    file: "src/run/Workers.ts",
    from: "gates.inFlight + 1 - gates.lost - waitingForTurn)",
    to: "gates.inFlight + 1 - gates.lost)",
    first: ["test/integration/Throttling.test.ts"]
  }
]
