-- The todos table and the seed data of the original job, for compose.yaml (PostgreSQL runs
-- this once, when its volume is new). test/deploy.test.ts runs this file against a real server.
CREATE TABLE IF NOT EXISTS todos (
  id uuid NOT NULL,
  name varchar(255) NOT NULL,
  assignee varchar(255) NOT NULL,
  "dueDate" date NOT NULL,
  "workspaceId" uuid NOT NULL,
  PRIMARY KEY (id, "workspaceId")
);

INSERT INTO todos (id, name, assignee, "dueDate", "workspaceId") VALUES
  ('142e8446-f5ba-4813-bfb5-f3192a37f1bf', 'Workspace 1 - Todo 1', 'Naomi', '2025-01-05', 'a9393008-eab2-48e8-b820-0e03447f881c'),
  ('bf6091cc-69f8-4a9e-93ed-0294c3a8ac2f', 'Workspace 1 - Todo 2', 'Peter', '2020-06-11', 'a9393008-eab2-48e8-b820-0e03447f881c'),
  ('6e5bad4c-7f1c-4ab4-9361-c6bd697b4257', 'Workspace 1 - Todo 3', 'Sheila', '2032-11-27', 'a9393008-eab2-48e8-b820-0e03447f881c'),
  ('1d2be9f2-4fe9-4509-b8ec-d0d9425c3685', 'Workspace 2 - Todo 1', 'Ousmane', '2020-07-14', '83fdfa88-737d-4550-87e4-c78bf954fcf2'),
  ('e868f10d-d21a-4139-9c5d-b8c73c62735a', 'Workspace 2 - Todo 2', 'Carla', '2034-09-07', '83fdfa88-737d-4550-87e4-c78bf954fcf2')
ON CONFLICT DO NOTHING;

-- The job's own role: it reads todos and owns its schema (docs/configuration.md, least privilege).
CREATE ROLE delay_notifications LOGIN PASSWORD 'delay-notifications';
GRANT CONNECT ON DATABASE app TO delay_notifications;
GRANT USAGE ON SCHEMA public TO delay_notifications;
GRANT SELECT ON TABLE public.todos TO delay_notifications;
CREATE SCHEMA delay_notifications AUTHORIZATION delay_notifications;
