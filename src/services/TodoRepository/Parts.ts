/**
 * How the adapter reads the todos table into the ledger: in parts of its pages (PostgreSQL's
 * blocks, read by a TID range scan), so that a run claims as soon as the first part is in and
 * neither the first notification nor the workers wait for the whole backlog.
 *
 * The parts grow: a small first part, then each `growth` times larger, the last open-ended (pages
 * added since are read too). Each part is added while the todos of the one before are sent, and
 * adding a todo costs the database far less than sending it costs the job, so the next part is in
 * before the workers run out. When a part adds nothing (its todos known, as the oldest pages of a
 * table usually are), one read of the rest finds where new todos start, and they are added in
 * growing parts from there (nothing more in a run with nothing new); after a later part that adds
 * nothing, the rest goes in one, which the database anti-joins against the ledger in one pass
 * instead of one per part. So a run reads the table at most about twice.
 */
import { Effect, Option, Stream } from "effect"
import type { CalendarDate } from "../../domain/Todo.js"
import type { DatabaseError } from "../DatabaseErrors.js"
import type { Enqueued, UndecodableTodo } from "../TodoRepository.js"

/** A range of the table's pages; `to` undefined: to the end. */
export interface TablePart {
  readonly from: number
  readonly to: number | undefined
}

/** The whole table as one part. */
export const wholeTable: TablePart = { from: 0, to: undefined }

/**
 * A table of `pages` pages in parts that grow, from page `start` (0: the whole table): `first`
 * pages, then `growth` times as many, and so on, the last part open-ended; what is left as one
 * part when it is at most twice `first`.
 */
export const tablePartsOf = (pages: number, first: number, growth = 16, start = 0): ReadonlyArray<TablePart> => {
  if (pages - start <= first * 2) return [{ from: start, to: undefined }]
  const parts: Array<TablePart> = []
  let from = start
  for (let size = first; from + size < pages; size *= growth) {
    parts.push({ from, to: from + size })
    from += size
  }
  return [...parts, { from, to: undefined }]
}

/**
 * The parts still to add after one that added `added` todos: as they are, or, when it added none
 * (a run with little new), the rest as one part.
 */
export const partsAfter = (added: number, rest: ReadonlyArray<TablePart>): ReadonlyArray<TablePart> =>
  added > 0 || rest.length <= 1 ? rest : [{ from: rest[0]!.from, to: undefined }]

/** What the reading needs of the table: the statements of Backlog.ts. */
export interface TableReader {
  /** The table in growing parts; the whole table as one part when it is small or not a plain table. */
  readonly tableParts: Effect.Effect<ReadonlyArray<TablePart>, DatabaseError>
  /**
   * The parts from page `from` on that may hold todos due at `reference` that the ledger does not
   * know: none when it knows them all; else growing parts from the first page that holds one.
   */
  readonly partsWithNew: (reference: CalendarDate, from: number) => Effect.Effect<ReadonlyArray<TablePart>, DatabaseError>
  /** Adds the todos of `part` due at `reference` that the ledger does not know. */
  readonly addPart: (
    reference: CalendarDate,
    part: TablePart
  ) => Effect.Effect<{ readonly added: number; readonly undecodable: ReadonlyArray<UndecodableTodo> }, DatabaseError>
}

/** How far the reading in parts has come: the parts left, and whether new todos were looked for. */
interface PartsLeft {
  readonly parts: ReadonlyArray<TablePart>
  /** Whether the read of where new todos start was made (once a run). */
  readonly located: boolean
  readonly step: number
}

/**
 * The delayed todos at `reference` added part by part (see the module comment), a step of the
 * stream per part; `inOneStep`: the whole table in one statement.
 */
export const addInParts = (
  reader: TableReader,
  reference: CalendarDate,
  inOneStep: boolean
): Stream.Stream<Enqueued, DatabaseError> =>
  Stream.unwrap(Effect.map(inOneStep ? Effect.succeed([wholeTable]) : reader.tableParts, (parts) =>
    Stream.unfoldEffect<PartsLeft, Enqueued, DatabaseError, never>({ parts, located: false, step: 0 }, (reading) => {
      const [part, ...rest] = reading.parts
      if (part === undefined) return Effect.succeed(Option.none())
      return Effect.gen(function*() {
        const { added, undecodable } = yield* reader.addPart(reference, part)
        const locate = added === 0 && rest.length > 1 && !reading.located
        const parts = locate ? yield* reader.partsWithNew(reference, rest[0]!.from) : partsAfter(added, rest)
        const step = reading.step + 1
        return Option.some([
          { added, undecodable, step, steps: step + parts.length },
          { parts, located: reading.located || locate, step }
        ] as const)
      })
    })))
