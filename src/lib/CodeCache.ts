/**
 * Whether the job's code came from V8's code cache (src/boot.ts, dist/main.js) or was compiled
 * at start, for the debug line at the start of every command.
 */

/**
 * - used: V8 took the compiled code from the cache made for this dist/job.cjs, V8 and flags;
 * - missing: no cache for this V8 and its flags (NODE_OPTIONS' heap flags, for one);
 * - stale: the cache was made for another dist/job.cjs (V8 itself compares only the lengths);
 * - rejected: V8 refused it (another V8 version or other V8 flags);
 * - not-loaded: the job was not started by dist/main.js (tests that run src/).
 */
export type CodeCacheStatus = "used" | "missing" | "stale" | "rejected" | "not-loaded"

const key = Symbol.for("delay-notifications/codeCache")

/** Set once by the loader before the job's code runs. */
export const setCodeCacheStatus = (status: CodeCacheStatus): void => {
  ;(globalThis as { [key]?: CodeCacheStatus })[key] = status
}

export const codeCacheStatus = (): CodeCacheStatus => (globalThis as { [key]?: CodeCacheStatus })[key] ?? "not-loaded"
