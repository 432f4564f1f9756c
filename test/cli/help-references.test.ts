import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { runCli } from '../helpers/cli.js';
import { readRepoFile } from '../helpers/documents.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The README's headings (outside fenced code), without the leading #s. */
function readmeHeadings(): string[] {
  const headings: string[] = [];
  let fenced = false;
  for (const line of readRepoFile('README.md').split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced && /^#{1,6} /.test(line)) headings.push(line.replace(/^#+ +/, '').trim());
  }
  return headings;
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to '-'. */
const anchorOf = (heading: string): string =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

/** The subcommands listed under "Commands:" in a help text (`help` left out). */
function subcommands(help: string): string[] {
  const section = /\nCommands:\n([\s\S]*?)(?:\n\n|$)/.exec(help)?.[1] ?? '';
  return section
    .split('\n')
    .map((line) => /^ {2}([a-z][a-z-]*)\b/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'help');
}

/** Every command's `--help`, found by walking the "Commands:" lists from `jobgate --help`; whitespace collapsed, so wrapped lines read as one. */
async function everyHelpText(t: Test): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  const pending: string[][] = [[]];
  while (pending.length > 0) {
    const path = pending.shift()!;
    const result = await runCli([...path, '--help']);
    const name = ['jobgate', ...path].join(' ');
    t.equal(result.code, 0, `${name} --help: exit 0`);
    texts.set(name, result.stdout.replace(/\s+/g, ' '));
    for (const sub of subcommands(result.stdout)) pending.push([...path, sub]);
  }
  return texts;
}

t.test('every README section, anchor and file that a --help text names exists', async (t) => {
  const headings = readmeHeadings();
  const anchors = new Set(headings.map(anchorOf));
  const texts = await everyHelpText(t);
  t.ok(texts.has('jobgate token create') && texts.has('jobgate keys generate') && texts.has('jobgate serve'), 'the walk reached the subcommands');

  const named: string[] = [];
  for (const [command, text] of texts) {
    // `"Section" in the README`, `the README's "Section"`, `README section "Section"`.
    for (const match of text.matchAll(/"([^"]+)" in the README|README(?:'s| section)? "([^"]+)"/g)) {
      const section = match[1] ?? match[2] ?? '';
      named.push(section);
      t.ok(headings.includes(section), `${command} --help names the README section "${section}": it must be a heading (${headings.join(' | ')})`);
    }
    for (const match of text.matchAll(/README(?:\.md)?#([\w-]+)/g)) {
      t.ok(anchors.has(match[1] ?? ''), `${command} --help links README#${match[1]}: no heading has that anchor`);
    }
    for (const match of text.matchAll(/\b((?:config|docs|deploy|examples)\/[\w./-]*\w)/g)) {
      t.ok(existsSync(ROOT + (match[1] ?? '')), `${command} --help names ${match[1]}: it must exist`);
    }
  }
  t.ok(named.includes('Signed identity for upstreams'), '`jobgate keys --help` points to the section about the assertion keys');
});

t.test('the parsers behind that check: subcommand lists, and anchors as GitHub makes them', async (t) => {
  t.same(subcommands('Usage: x\n\nCommands:\n  put [options] <id>  create\n  list-all  list\n  help [command]  help\n\nMore'), ['put', 'list-all']);
  t.equal(anchorOf("Forward-auth: jobgate's decision behind nginx, Traefik or Envoy"), 'forward-auth-jobgates-decision-behind-nginx-traefik-or-envoy');
  t.ok(readmeHeadings().includes('Signed identity for upstreams'));
});
