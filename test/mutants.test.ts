import { describe, expect, it } from "@effect/vitest"
import { existsSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { mutants } from "../dev/mutants/list.js"

const root = path.resolve(import.meta.dirname, "..")

describe("the mutation check's list (npm run mutants)", () => {
  it("each mutant's edit applies to the code as it is: its text found exactly once, the edit changes it, and its first tests exist", () => {
    for (const mutant of mutants) {
      const text = readFileSync(path.join(root, mutant.file), "utf8")
      expect(text.split(mutant.from).length - 1, `${mutant.name} in ${mutant.file}`).toBe(1)
      expect(mutant.to, mutant.name).not.toBe(mutant.from)
      for (const first of mutant.first ?? []) expect(existsSync(path.join(root, first)), `${mutant.name}: ${first}`).toBe(true)
    }
    expect(new Set(mutants.map((m) => m.name)).size).toBe(mutants.length)
  })
})
