import { Schema } from "effect"
import { seedTodos } from "../../dev/seedTodos.js"
import { DelayedTodo } from "../../src/domain/Todo.js"

/** The seed's five todos as the domain sees them. */
export const seedDelayedTodos: ReadonlyArray<DelayedTodo> = seedTodos.map((todo) =>
  Schema.decodeSync(DelayedTodo)({ id: todo.id, workspaceId: todo.workspaceId, dueDate: todo.dueDate })
)
