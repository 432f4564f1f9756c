// undici's Agent by its own module path: the package's index also loads fetch, WebSocket,
// the cache and cookie helpers (about 1 MB that jobgate never calls), which costs start-up
// time and memory in every sidecar. The class is the one the index exports.
declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';
  const AgentClass: typeof Agent;
  export default AgentClass;
}
