/**
 * Batches in hand for a fixed set of workers: one producer adds whole batches, every worker takes
 * the next item (synchronously, waiting only when nothing is in hand), in the order the batches
 * came. The producer is let to add a batch whenever fewer than `ahead` items are left untaken, so
 * the workers never wait for it while it has more to give.
 *
 * Why not a Queue of items: a queue step (and an object) per item showed in the profile of a run;
 * here taking an item is an array read, and fibers wait only when nothing is in hand.
 */
import { Effect } from "effect"

export interface FeedBatch<A> {
  readonly items: ReadonlyArray<A>
  /** The next item to take: those from here on are untaken. */
  next: number
}

export interface Feed<B extends FeedBatch<unknown>> {
  /** Waits until the producer may add a batch (fewer than `ahead` items untaken). */
  readonly wantMore: Effect.Effect<void>
  readonly add: (batch: B) => void
  /** No batch will come any more: workers end once everything in hand is taken. */
  readonly end: () => void
  /**
   * Takes the next item if one is in hand, without waiting: its batch (the item is
   * `batch.items[batch.next - 1]`), or undefined (then `ready` tells when to poll again).
   */
  readonly poll: () => B | undefined
  /**
   * Counts items taken but set aside for later (throttled todos waiting) (1), or no longer (-1,
   * taken up again): past `asideFree` of them, each counts as untaken, and the producer adds no
   * more while many wait.
   */
  readonly aside: (delta: 1 | -1) => void
  /** Waits until an item is in hand or the feed has ended. */
  readonly ready: Effect.Effect<void>
  /** No batch will come and every item was taken: the workers may end. */
  readonly done: () => boolean
  /** No batch will come (items may be left in hand). */
  readonly ended: () => boolean
}

export const makeFeed = <B extends FeedBatch<unknown>>(ahead: number, asideFree = 0): Effect.Effect<Feed<B>> =>
  Effect.gen(function*() {
    const inHand: Array<B> = []
    let untaken = 0
    let aside = 0
    const full = () => untaken + Math.max(0, aside - asideFree) >= ahead
    let ended = false
    // Open while something is in hand (or the feed ended); open while the producer may add.
    const ready = yield* Effect.makeLatch(false)
    const room = yield* Effect.makeLatch(true)

    const poll = (): B | undefined => {
      const batch = inHand[0]
      if (batch === undefined) return undefined
      batch.next++
      untaken--
      if (batch.next >= batch.items.length) inHand.shift()
      if (!full()) room.unsafeOpen()
      if (inHand.length === 0 && !ended) ready.unsafeClose()
      return batch
    }

    return {
      wantMore: room.await,
      add: (batch) => {
        if (batch.items.length === 0) return
        inHand.push(batch)
        untaken += batch.items.length - batch.next
        ready.unsafeOpen()
        if (full()) room.unsafeClose()
      },
      end: () => {
        ended = true
        ready.unsafeOpen()
      },
      poll,
      aside: (delta) => {
        aside += delta
        if (full()) room.unsafeClose()
        else room.unsafeOpen()
      },
      ready: ready.await,
      done: () => ended && inHand.length === 0,
      ended: () => ended
    }
  })
