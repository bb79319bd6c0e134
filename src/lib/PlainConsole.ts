/**
 * Help and usage text without colour codes when stdout is not a terminal or NO_COLOR is set
 * (@effect/cli always writes ANSI styles): a file or a pipe gets plain text.
 */
import { Console, Effect } from "effect"

const ansiStyle = /\u001b\[[0-9;]*m/g

const plain = (args: ReadonlyArray<unknown>) => args.map((arg) => (typeof arg === "string" ? arg.replace(ansiStyle, "") : arg))

/** Runs `effect` with Console.log and Console.error writing plain text when `strip` is true. */
export const withPlainText = (strip: boolean) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  strip
    ? Console.consoleWith((current) =>
      Console.withConsole(effect, {
        ...current,
        log: (...args) => current.log(...plain(args)),
        error: (...args) => current.error(...plain(args))
      })
    )
    : effect
