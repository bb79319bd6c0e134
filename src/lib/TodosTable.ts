/** TODOS_TABLE: where the todos service keeps its todos (`todos`, or `schema.table`), for every command. */
import { Config } from "effect"
import { Env } from "./Environment.js"

const part = "[A-Za-z_][A-Za-z0-9_$]*"

export const todosTableConfig = Config.string(Env.TODOS_TABLE).pipe(
  Config.withDefault("todos"),
  Config.validate({
    message: "Expected a table name, or schema.table (letters, digits, _ and $)",
    validation: (name) => new RegExp(`^${part}(\\.${part})?$`).test(name)
  })
)

/** The name as PostgreSQL's to_regclass reads it: each part quoted, so case is kept. */
export const regclassName = (name: string): string => name.split(".").map((p) => `"${p}"`).join(".")
