// undici's Agent module alone: the package's index also loads fetch, WebSocket, caches and
// mocks, which the job never uses (a large part of the bundle, parsed at every start).
declare module "undici/lib/dispatcher/agent.js" {
  import type { Agent } from "undici"
  const AgentClass: typeof Agent
  export default AgentClass
}
