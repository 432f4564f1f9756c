#!/usr/bin/env node
import module from 'node:module';

// Node >= 22.1 keeps V8's compiled code between runs (in the OS temporary directory; where it
// cannot write, as in the read-only image, it simply does without). Node 20 has no such cache.
module.enableCompileCache?.();

// dist/bundle/ is dist/cli/ bundled with its dependencies (scripts/bundle-cli.mjs), which starts
// several times faster than resolving the module tree. Imported after the cache is on.
const { main } = await import('../dist/bundle/main.js');
process.exitCode = await main(process.argv.slice(2));
