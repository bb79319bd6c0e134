import { readdirSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { parseAllDocuments } from "yaml"

export const root = path.resolve(import.meta.dirname, "../..")

export interface Stage {
  readonly name: string
  readonly from: string
  readonly workdir: string | undefined
  readonly user: string | undefined
  readonly copies: ReadonlyArray<{ readonly from: string | undefined; readonly sources: ReadonlyArray<string>; readonly target: string }>
  /** ENV, as the stage's later instructions and its container see it. */
  readonly env: Readonly<Record<string, string>>
  /** Shell-form RUN instructions, in order. */
  readonly runs: ReadonlyArray<string>
  readonly entrypoint: ReadonlyArray<string> | undefined
  readonly cmd: ReadonlyArray<string> | undefined
}

/** The stages of the Dockerfile, with what each copies and runs (JSON-form ENTRYPOINT/CMD only). */
export const dockerfileStages = (): ReadonlyArray<Stage> => {
  const stages: Array<
    { -readonly [K in keyof Stage]: Stage[K] } & { copies: Array<Stage["copies"][number]>; env: Record<string, string>; runs: Array<string> }
  > = []
  const lines = readFileSync(path.join(root, "Dockerfile"), "utf8").split("\n").map((l) => l.trim())
  for (const line of lines.filter((l) => l !== "" && !l.startsWith("#"))) {
    const [instruction, ...rest] = line.split(/\s+/)
    const args = rest.join(" ")
    const stage = stages.at(-1)
    switch (instruction!.toUpperCase()) {
      case "FROM": {
        const [from, , name] = rest
        stages.push({
          name: name ?? String(stages.length),
          from: from!,
          workdir: undefined,
          user: undefined,
          copies: [],
          env: {},
          runs: [],
          entrypoint: undefined,
          cmd: undefined
        })
        break
      }
      case "WORKDIR":
        stage!.workdir = args
        break
      case "USER":
        stage!.user = args
        break
      case "COPY": {
        const fromFlag = rest.find((r) => r.startsWith("--from="))
        const paths = rest.filter((r) => !r.startsWith("--"))
        stage!.copies.push({ from: fromFlag?.slice("--from=".length), sources: paths.slice(0, -1), target: paths.at(-1)! })
        break
      }
      case "ENV":
        for (const [, key, quoted, bare] of args.matchAll(/(\w+)=(?:"([^"]*)"|(\S+))/g)) stage!.env[key!] = quoted ?? bare!
        break
      case "RUN":
        stage!.runs.push(args)
        break
      case "ENTRYPOINT":
        stage!.entrypoint = JSON.parse(args)
        break
      case "CMD":
        stage!.cmd = JSON.parse(args)
        break
    }
  }
  return stages
}

/** Every YAML document of deploy/ and compose.yaml, by file, parsed (errors raised). */
export const yamlDocuments = (): ReadonlyArray<{ readonly file: string; readonly document: any }> => {
  const files = [
    ...readdirSync(path.join(root, "deploy")).filter((f) => f.endsWith(".yaml")).map((f) => path.join("deploy", f)),
    "compose.yaml"
  ]
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(root, file), "utf8")).map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((e) => e.message).join("; ")}`)
      return { file, document: document.toJS() }
    })
  )
}

/** The variables docs/configuration.md's tables document (the names in each row's first two cells). */
export const documentedVariables = (): ReadonlySet<string> => {
  const page = readFileSync(path.join(root, "docs/configuration.md"), "utf8")
  return new Set(
    page.split("\n")
      .filter((line) => line.startsWith("|"))
      .flatMap((line) => [...line.split("|").slice(1, 3).join("|").matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!))
  )
}

/** Every TypeScript file under `dir` (relative to the project), with its text. */
export const sourceFiles = (dir: string): ReadonlyArray<{ readonly file: string; readonly text: string }> =>
  readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))
    .map((file) => ({ file: path.join(dir, file), text: readFileSync(path.join(root, dir, file), "utf8") }))
