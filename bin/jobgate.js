#!/usr/bin/env node
// dist/bundle/ is dist/cli/ bundled with its dependencies (scripts/bundle-cli.mjs): it starts
// several times faster than resolving the module tree.
import { main } from '../dist/bundle/main.js';

process.exitCode = await main(process.argv.slice(2));
