/**
 * Strings by key, each with a time until which it is good, kept off the V8 heap: their bytes in
 * one buffer used as a ring, their places and times in typed arrays. The oldest go first when a
 * new one needs their slot or their bytes, so memory stays within `bytes` (plus a Map entry and
 * the key per string on the heap) however many keys come and go.
 *
 * Why not a Map of strings: over many workspaces every workspace's token is wanted twice, far
 * apart. Keeping every token on the heap under the image's heap cap grows the live heap the
 * garbage collector traces on every collection, and keeping fewer makes a token request per
 * notification (bench/NOTES.md, "Memory"). Bytes in a Buffer are not the garbage collector's to
 * trace or move.
 */

export interface TokenStore {
  /** The string kept for `key` if it is still good at `now` (good while `now < until`). */
  readonly get: (key: string, now: number) => string | undefined
  /** Keeps `value` for `key` until `until`, in place of any before it; a value larger than the whole store is not kept. */
  readonly set: (key: string, value: string, until: number) => void
  readonly delete: (key: string) => void
  /** Strings kept now. */
  readonly size: () => number
}

/**
 * A store of at most `slots` strings in at most `bytes` bytes (UTF-8). Pages of the buffer that no
 * string has reached yet take no memory.
 */
export const makeTokenStore = (slots: number, bytes: number): TokenStore => {
  const slotOf = new Map<string, number>()
  // Slot i holds keys[i] (undefined once replaced, deleted or dropped), its value's bytes at
  // starts[i] (lengths[i] of them) and until[i]. Slots are used in turn: the oldest is `oldest`,
  // `used` of them from there on (in the ring of slots) are taken, the next new one at
  // (oldest + used) % slots. Values are written in the same order at `write`, from the buffer's
  // start again when the next one does not fit before its end.
  const keys: Array<string | undefined> = new Array(slots).fill(undefined)
  const starts = new Int32Array(slots)
  const lengths = new Int32Array(slots)
  const until = new Float64Array(slots)
  const buffer = Buffer.allocUnsafeSlow(bytes)
  let oldest = 0
  let used = 0
  let write = 0

  const dropOldest = () => {
    const key = keys[oldest]
    if (key !== undefined) {
      slotOf.delete(key)
      keys[oldest] = undefined
    }
    oldest = oldest + 1 === slots ? 0 : oldest + 1
    used--
  }
  const overlaps = (slot: number, start: number, length: number) =>
    starts[slot]! < start + length && starts[slot]! + lengths[slot]! > start

  /** Where `length` bytes go, the strings in their way dropped first. */
  const reserve = (length: number) => {
    if (used === 0) write = 0
    let start = write
    if (start + length > bytes) {
      // The bytes from `write` to the end are left unused: the strings still there are the oldest.
      while (used > 0 && starts[oldest]! >= write) dropOldest()
      start = 0
    }
    // Later strings lie after the oldest, up to `write`: only the oldest can be in the way first.
    while (used > 0 && overlaps(oldest, start, length)) dropOldest()
    write = start + length
    return start
  }

  const remove = (key: string) => {
    const slot = slotOf.get(key)
    if (slot !== undefined) {
      slotOf.delete(key)
      keys[slot] = undefined
    }
  }

  return {
    get: (key, now) => {
      const slot = slotOf.get(key)
      if (slot === undefined || until[slot]! <= now) return undefined
      return buffer.toString("utf8", starts[slot]!, starts[slot]! + lengths[slot]!)
    },
    set: (key, value, good) => {
      remove(key)
      const length = Buffer.byteLength(value, "utf8")
      if (length > bytes) return
      if (used === slots) dropOldest()
      const start = reserve(length)
      buffer.write(value, start, length, "utf8")
      const slot = (oldest + used) % slots
      used++
      keys[slot] = key
      starts[slot] = start
      lengths[slot] = length
      until[slot] = good
      slotOf.set(key, slot)
    },
    delete: remove,
    size: () => slotOf.size
  }
}
