/** The process exit codes; documented in --help and the README. */
export const ExitCode = {
  /** Every delayed todo was notified (or nothing was pending). */
  Success: 0,
  /** The run was aborted: database failure, schema not migrated, or invalid configuration. */
  Aborted: 1,
  /** Invalid command-line usage. */
  Usage: 2,
  /** The run finished, but some notifications failed (retried by a later run), became dead letters, or rows could not be read. */
  SomeFailed: 3,
  /** The notify service looked down: the run stopped sending and left the rest pending. */
  Outage: 4,
  /** The auth service refused the job's client credentials (CLIENT_ID / CLIENT_SECRET): the run stopped, nothing counted against any todo. */
  ClientRejected: 5,
  /** Stopped by Ctrl-C (SIGINT): in-flight sends recorded, the rest left pending. */
  Interrupted: 130,
  /** Stopped by SIGTERM: in-flight sends recorded, the rest left pending. */
  Terminated: 143
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** The exit code of a run stopped by a signal. */
export const signalExitCode = { SIGTERM: ExitCode.Terminated, SIGINT: ExitCode.Interrupted } as const
