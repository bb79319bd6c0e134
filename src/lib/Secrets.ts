/**
 * Secrets from the environment or from a file (as Kubernetes mounts them: NAME or NAME_FILE,
 * not both), redacted so that no message shows them.
 */
import { Config, ConfigError, Either, Option, Redacted } from "effect"
import { readFileSync } from "node:fs"
import type { VariableName } from "./Environment.js"

/** The contents of a file named by a setting, without its final newline; a ConfigError names the setting, not the contents. */
export const readSettingFile = (setting: string, file: string): Either.Either<string, ConfigError.ConfigError> => {
  try {
    return Either.right(readFileSync(file, "utf8").replace(/\r?\n$/, ""))
  } catch (error) {
    const code = typeof error === "object" && error !== null && "code" in error ? ` (${String(error.code)})` : ""
    return Either.left(ConfigError.InvalidData([setting], `Cannot read the file ${file}${code}`))
  }
}

/**
 * A secret from the variable `name`, or from the file that `name_FILE` names (as Kubernetes
 * mounts secrets); one or the other, never both. Redacted: no message shows its value.
 */
export const secretConfig = (name: VariableName): Config.Config<Redacted.Redacted<string>> =>
  Config.all({
    value: Config.option(Config.redacted(name)),
    file: Config.option(Config.string(`${name}_FILE`))
  }).pipe(
    Config.mapOrFail(({ file, value }) => {
      if (Option.isSome(value) && Option.isSome(file)) {
        return Either.left(ConfigError.InvalidData([name], `Set ${name} or ${name}_FILE, not both`))
      }
      if (Option.isSome(value)) return Either.right(value.value)
      if (Option.isNone(file)) return Either.left(ConfigError.MissingData([name], `Expected ${name} or ${name}_FILE`))
      return readSettingFile(`${name}_FILE`, file.value).pipe(
        Either.filterOrLeft(
          (contents) => contents.length > 0,
          () => ConfigError.InvalidData([`${name}_FILE`], `The file ${file.value} is empty`)
        ),
        Either.map(Redacted.make)
      )
    })
  )
