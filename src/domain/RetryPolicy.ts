/**
 * How a failed notification is tried again by later runs: after a delay that doubles, until the
 * last allowed try makes it a dead letter.
 */
import { Duration } from "effect"

/** How failed notifications are tried again by later runs. */
export interface RetryPolicy {
  /** Tries in all, this one included; after the last failure the todo is a dead letter. */
  readonly maxAttempts: number
  /** Wait after the first failure; doubled after each further one. */
  readonly baseDelay: Duration.Duration
  /** The longest wait between two tries. */
  readonly maxDelay: Duration.Duration
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 10,
  baseDelay: Duration.minutes(5),
  maxDelay: Duration.hours(6)
}

/** What follows a failed try, given the tries made so far (this one included). */
export const afterFailure = (
  attempts: number,
  policy: RetryPolicy
): { readonly _tag: "DeadLetter" } | { readonly _tag: "RetryLater"; readonly delay: Duration.Duration } =>
  attempts >= policy.maxAttempts
    ? { _tag: "DeadLetter" }
    : {
      _tag: "RetryLater",
      delay: Duration.min(Duration.times(policy.baseDelay, 2 ** Math.min(attempts - 1, 30)), policy.maxDelay)
    }
