import { describe, expect, it } from "@effect/vitest"
import { makeTokenStore } from "../src/lib/TokenStore.js"

const later = 1_000

describe("the token store (strings off the V8 heap)", () => {
  it("gives back what was kept for a key until its time, and nothing for a key it does not know", () => {
    const store = makeTokenStore(4, 256)
    store.set("a", "Bearer token-a", later)
    store.set("b", "Bearer tökén-b ✓", later)
    expect(store.get("a", 0)).toBe("Bearer token-a")
    expect(store.get("b", later - 1)).toBe("Bearer tökén-b ✓")
    expect(store.get("b", later)).toBeUndefined()
    expect(store.get("c", 0)).toBeUndefined()
  })

  it("keeps the newest value for a key, and none after it is deleted", () => {
    const store = makeTokenStore(4, 256)
    store.set("a", "first", later)
    store.set("a", "second", later + 1)
    expect(store.get("a", later)).toBe("second")
    expect(store.size()).toBe(1)
    store.delete("a")
    expect(store.get("a", 0)).toBeUndefined()
    expect(store.size()).toBe(0)
  })

  it("drops the oldest beyond its slots", () => {
    const store = makeTokenStore(3, 1024)
    for (const key of ["a", "b", "c", "d"]) store.set(key, `token-${key}`, later)
    expect(["a", "b", "c", "d"].map((key) => store.get(key, 0))).toEqual([undefined, "token-b", "token-c", "token-d"])
  })

  it("drops the oldest whose bytes a new value needs, from the buffer's start again at its end", () => {
    const store = makeTokenStore(100, 30)
    for (const key of ["a", "b", "c"]) store.set(key, `${key}`.repeat(10), later)
    expect(store.size()).toBe(3)
    store.set("d", "d".repeat(10), later)
    expect(["a", "b", "c", "d"].map((key) => store.get(key, 0))).toEqual([undefined, "b".repeat(10), "c".repeat(10), "d".repeat(10)])
    // Twelve bytes do not fit after d's: the rest of the buffer is left and e takes b's and c's bytes.
    store.set("e", "e".repeat(12), later)
    expect(["b", "c", "d", "e"].map((key) => store.get(key, 0))).toEqual([undefined, undefined, "d".repeat(10), "e".repeat(12)])
  })

  it("does not keep a value larger than the whole store, nor lose the others for it", () => {
    const store = makeTokenStore(4, 16)
    store.set("a", "small", later)
    store.set("b", "x".repeat(17), later)
    expect(store.get("a", 0)).toBe("small")
    expect(store.get("b", 0)).toBeUndefined()
  })

  it("over any sequence gives back only the last value kept for a key, and keeps the newest that fit", () => {
    // A fixed-seed generator: the same sequence of keys, lengths and deletes on every run.
    let seed = 42
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed % n
    }
    const slots = 50
    const bytes = 2_000
    const longest = 120
    const store = makeTokenStore(slots, bytes)
    const last = new Map<string, string>()
    const written: Array<{ key: string; value: string }> = [] // every value kept, oldest first
    for (let step = 0; step < 5_000; step++) {
      const key = `ws-${next(200)}`
      if (next(10) === 0) {
        store.delete(key)
        last.delete(key)
      } else {
        const value = `${key}:${step}:`.padEnd(10 + next(longest - 10), "=")
        store.set(key, value, later)
        last.set(key, value)
        written.push({ key, value })
      }

      for (const [known, value] of last) {
        const got = store.get(known, 0)
        if (got !== undefined) expect(got).toBe(value)
      }
      // Every value still the last for its key is there while the values written since it, itself
      // included, take at most the buffer less one value (the end a wrap leaves unused) and the slots.
      let taken = 0
      for (let i = written.length - 1; i >= 0 && written.length - i <= slots; i--) {
        const { key, value } = written[i]!
        taken += Buffer.byteLength(value)
        if (taken > bytes - longest) break
        if (last.get(key) === value) expect(store.get(key, 0)).toBe(value)
      }
    }
  })
})
