/**
 * The todos table as the todos service defines it, and the seed's five example todos: Peter's
 * (due 2020-06-11) and Ousmane's (due 2020-07-14) are the delayed ones at 2022-06-03.
 * Development and tests only; the job never creates or alters this table.
 */
export const workspace1 = "a9393008-eab2-48e8-b820-0e03447f881c"
export const workspace2 = "83fdfa88-737d-4550-87e4-c78bf954fcf2"

export const seedTodos = [
  { workspaceId: workspace1, id: "142e8446-f5ba-4813-bfb5-f3192a37f1bf", name: "Workspace 1 - Todo 1", assignee: "Naomi", dueDate: "2025-01-05" },
  { workspaceId: workspace1, id: "bf6091cc-69f8-4a9e-93ed-0294c3a8ac2f", name: "Workspace 1 - Todo 2", assignee: "Peter", dueDate: "2020-06-11" },
  { workspaceId: workspace1, id: "6e5bad4c-7f1c-4ab4-9361-c6bd697b4257", name: "Workspace 1 - Todo 3", assignee: "Sheila", dueDate: "2032-11-27" },
  { workspaceId: workspace2, id: "1d2be9f2-4fe9-4509-b8ec-d0d9425c3685", name: "Workspace 2 - Todo 1", assignee: "Ousmane", dueDate: "2020-07-14" },
  { workspaceId: workspace2, id: "e868f10d-d21a-4139-9c5d-b8c73c62735a", name: "Workspace 2 - Todo 2", assignee: "Carla", dueDate: "2034-09-07" }
] as const

export const peterTodoId = "bf6091cc-69f8-4a9e-93ed-0294c3a8ac2f"
export const ousmaneTodoId = "1d2be9f2-4fe9-4509-b8ec-d0d9425c3685"

/** The todos service's table, exactly: camelCase quoted columns, all NOT NULL. */
export const createTodosTableSql = `
CREATE TABLE IF NOT EXISTS todos (
  id uuid NOT NULL,
  name varchar(255) NOT NULL,
  assignee varchar(255) NOT NULL,
  "dueDate" date NOT NULL,
  "workspaceId" uuid NOT NULL,
  PRIMARY KEY (id, "workspaceId")
)`

/**
 * The benchmarks' backlog: `n` todos over `workspaces` workspaces, every other one delayed (due
 * dates spread over two years), the rest due in 2099.
 */
export const insertBacklogSql = (n: number, workspaces: number) => `
  WITH ws AS (SELECT gen_random_uuid() AS id, row_number() OVER () - 1 AS i FROM generate_series(1, ${workspaces}))
  INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId")
  SELECT gen_random_uuid(), 'Todo ' || g, 'Someone', CASE WHEN g % 2 = 0 THEN DATE '2020-01-01' + (g % 700) ELSE DATE '2099-01-01' END, ws.id
  FROM generate_series(1, ${n}) AS g JOIN ws ON ws.i = g % ${workspaces}`
