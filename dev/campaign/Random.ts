/**
 * A seeded pseudo-random generator (sfc32, seeded through splitmix32): the same seed gives the
 * same draws on every machine, so a round's schedule is replayed from its seed alone.
 */

const splitmix32 = (seed: number) => () => {
  seed = (seed + 0x9e3779b9) | 0
  let z = seed
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

export interface Random {
  /** In [0, 1). */
  readonly next: () => number
  /** An integer in [min, max]. */
  readonly int: (min: number, max: number) => number
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  readonly chance: (p: number) => boolean
  /** A version-4 UUID made of draws. */
  readonly uuid: () => string
}

export const random = (seed: number): Random => {
  const mix = splitmix32(seed)
  let [a, b, c, d] = [mix(), mix(), mix(), mix()]
  const next32 = () => {
    a >>>= 0
    b >>>= 0
    c >>>= 0
    d >>>= 0
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  const next = () => next32() / 2 ** 32
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  const hex = (n: number) => Array.from({ length: n }, () => int(0, 15).toString(16)).join("")
  return {
    next,
    int,
    pick: (items) => items[int(0, items.length - 1)]!,
    chance: (p) => next() < p,
    uuid: () => `${hex(8)}-${hex(4)}-4${hex(3)}-${["8", "9", "a", "b"][int(0, 3)]}${hex(3)}-${hex(12)}`
  }
}

/** The seed of round `index` of a campaign started from `seed`. */
export const roundSeed = (seed: number, index: number): number => {
  const mix = splitmix32(seed ^ Math.imul(index + 1, 0x9e3779b1))
  mix()
  return mix()
}
