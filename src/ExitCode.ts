/**
 * The process's exit codes, and the lines a command ends with when it fails, each written here
 * once (src/Endings.ts says which failure ends with which line and code). Plain values with no
 * imports, so that the loader (src/boot.ts), which runs before the job's code is compiled, can
 * use them too.
 */
/** The process exit codes; documented in --help, the README and docs/operations.md. */
export const ExitCode = {
  /** Every delayed todo was notified (or nothing was pending); or the notify service refused every request for a minute and the rest was left, uncharged, for the next run. */
  Success: 0,
  /** The run was aborted: database failure, schema not migrated, invalid configuration, or the host's and the database's clocks apart. */
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

/** The lines failures end a command with (src/Endings.ts maps each failure to one). */
export const Lines = {
  invalidConfiguration: "Invalid configuration. Aborting job...",
  invalidLease: "Invalid settings: the lease is too short. Aborting job...",
  schemaNotCurrent: "The job's database schema is not current. Aborting job...",
  noConnection: "Could not connect to the database. Aborting job...",
  databaseFailed: "Could not retrieve delayed todos from the database. Aborting job...",
  databaseStoppedAnswering: "The database stopped answering. Aborting job...",
  clocksDisagree: "The host's clock and the database's disagree. Aborting job...",
  migrateFailed: "Could not migrate the job's schema. Aborting...",
  postgresTooOld: "The database's PostgreSQL is older than the job supports. Aborting...",
  statusFailed: "Could not read the job's state. Aborting...",
  requeueFailed: "Could not requeue dead letters. Aborting...",
  pruneFailed: "Could not prune the job's state. Aborting...",
  pruneRefused: "Refusing to prune. Aborting...",
  reportNotWritten: "Could not write the run report.",
  notifyDown: "The notify service looks down: stopped sending. Aborting job...",
  credentialsRejected: "The auth service refused the job's client credentials: stopped sending. Aborting job...",
  unexpected: "Unexpected failure. Aborting job..."
} as const

/** A failure as one line on stderr, where no logger is set up (the loader, the process's last resort). */
export const stderrLine = (line: string, detail: string): string => `${line} ${detail}\n`
