// @ts-check
// Import rules for src/, checked by `npm run lint` (dependency-cruiser).
//
// The architecture, bottom to top. A folder (or a file directly in src/) imports only from the
// layers below its own: never from a layer above, never from another folder on its own layer.
// Inside a folder, modules import each other freely, as long as no import circle forms.
const LAYERS = [
  ['util', 'errors.ts'], // generic caches, address blocks, error classes
  ['redis', 'http', 'selector'], // Redis client and keys, the catalogue of answers and bounded body reads, label selectors
  ['audit'], // the audit trail's events: written by the stores with each change, read by the control API
  ['tokens', 'jobs'], // token and job records and their stores
  ['routing', 'registry', 'assertion', 'api', 'session'], // which job a request names, cached lookups, signed assertions, API policy, browser sessions
  ['config', 'auth', 'observability'], // settings resolved once, credentials and the decision table, logs and metrics
  ['gate', 'control'], // one admission decision for every entry point; the control API's operations on tokens, jobs and events
  ['console'], // the token console's pages on the control host, built on the control service
  ['proxy', 'authz'], // the two transports: the inline proxy and the forward-auth endpoint
  ['server.ts'], // wires one jobgate process together
  ['cluster'], // forks and supervises workers
  ['demo'], // the sample jobs and private Redis behind `jobgate demo`
  ['cli'], // the jobgate command
];

/**
 * The regular expression that matches the modules of one layer member.
 * @param {string} member a folder of src/, or a file directly in it
 */
function modulesOf(member) {
  return member.endsWith('.ts') ? `^src/${member.replaceAll('.', '\\.')}$` : `^src/${member}/`;
}

const EVERY_MEMBER = LAYERS.flat().map(modulesOf);

/** One rule per member: everything on its own layer (but itself) and above is out of reach. */
const layerRules = LAYERS.flatMap((layer, index) =>
  layer.flatMap((member) => {
    const unreachable = LAYERS.slice(index)
      .flat()
      .filter((other) => other !== member)
      .map(modulesOf);
    if (unreachable.length === 0) return []; // the top: nothing is above it
    return {
      name: `layers:${member}`,
      comment: `src/${member} imports only from the layers below its own (see LAYERS in .dependency-cruiser.js)`,
      severity: /** @type {const} */ ('error'),
      from: { path: modulesOf(member) },
      to: { path: unreachable },
    };
  }),
);

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import circle (dynamic imports and `import type` count): move what both sides need into its own module',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'layers:unlisted',
      comment: 'Every folder of src/ has its place in LAYERS (.dependency-cruiser.js)',
      severity: 'error',
      from: { path: '^src/', pathNot: EVERY_MEMBER },
      to: { path: '^src/' },
    },
    {
      name: 'layers:unlisted',
      comment: 'Every folder of src/ has its place in LAYERS (.dependency-cruiser.js)',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: EVERY_MEMBER },
    },
    ...layerRules,
  ],
  options: {
    includeOnly: '^src/',
    // `import type` and type-only imports are dependencies too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
