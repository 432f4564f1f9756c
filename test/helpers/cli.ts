import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

export const JOBGATE_BIN = fileURLToPath(new URL('../../bin/jobgate.js', import.meta.url));

/** A config directory that does not exist: the CLI finds no stored login there (a test that wants one sets XDG_CONFIG_HOME). */
const NO_LOGIN = join(tmpdir(), 'jobgate-test-no-login', 'does-not-exist');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * How many CLI processes a test file runs at once. A test may start many (Promise.all over a
 * table of cases); started together on a 2-core machine they only queue for the CPU, and the
 * load spike slows every other test running beside them (Redis timeouts of 0.5-2 s included).
 */
const MAX_CONCURRENT_RUNS = Math.max(1, Math.min(availableParallelism(), 4));
let running = 0;
const waiting: Array<() => void> = [];

async function slot(): Promise<() => void> {
  if (running >= MAX_CONCURRENT_RUNS) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  return () => {
    running--;
    waiting.shift()?.();
  };
}

/** Runs the built `jobgate` binary as a user would (npm test builds it first). */
export async function runCli(args: readonly string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  const release = await slot();
  try {
    return await spawnCli(args, env, input);
  } finally {
    release();
  }
}

async function spawnCli(args: readonly string[], env: Record<string, string>, input: string | undefined): Promise<CliResult> {
  // A clean environment (no stray JOBGATE_* from the developer's shell, nor the login `jobgate
  // login` stored in their home), keeping coverage collection.
  const base: Record<string, string> = { PATH: process.env.PATH ?? '', XDG_CONFIG_HOME: NO_LOGIN };
  if (process.env.NODE_V8_COVERAGE) base.NODE_V8_COVERAGE = process.env.NODE_V8_COVERAGE;
  const child = spawn(process.execPath, [JOBGATE_BIN, ...args], {
    env: { ...base, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(input ?? '');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

export interface TerminalResult {
  readonly code: number | null;
  /** What reached the terminal, with its line ends as \n. */
  readonly terminal: string;
  /** What reached the file that the other stream was redirected to. */
  readonly file: string;
}

/**
 * Runs the built `jobgate` binary as a person at a terminal would, with one stream redirected to
 * a file (`jobgate token create ... > token.yaml`): the other one is a real pseudo-terminal, made
 * by util-linux `script`, so that the CLI sees isTTY as it would in a terminal emulator.
 */
export async function runCliInTerminal(args: readonly string[], env: Record<string, string>, redirect: 'stdout' | 'stderr'): Promise<TerminalResult> {
  const release = await slot();
  const dir = await mkdtemp(join(tmpdir(), 'jobgate-terminal-'));
  try {
    const file = join(dir, redirect);
    const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;
    const command = `${[process.execPath, JOBGATE_BIN, ...args].map(quote).join(' ')} ${redirect === 'stdout' ? '>' : '2>'} ${quote(file)}`;
    const base: Record<string, string> = { PATH: process.env.PATH ?? '', TERM: 'xterm', XDG_CONFIG_HOME: NO_LOGIN };
    if (process.env.NODE_V8_COVERAGE) base.NODE_V8_COVERAGE = process.env.NODE_V8_COVERAGE;
    // -q: no "Script started" lines; -e: the command's exit code; /dev/null: no typescript file.
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let terminal = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (terminal += chunk));
    child.stderr.resume();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, terminal: terminal.replaceAll('\r\n', '\n'), file: await readFile(file, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
    release();
  }
}

/** Asserts a successful run that printed nothing on stderr. */
export function succeeded(t: Test, result: CliResult, what: string): void {
  t.equal(result.code, 0, `${what}: exit 0`);
  t.equal(result.stderr, '', `${what}: nothing on stderr`);
}

/** Asserts a failed run with `code` and exactly one line on stderr, nothing on stdout. */
export function failed(t: Test, result: CliResult, code: number, what: string): void {
  t.equal(result.code, code, `${what}: exit ${code}`);
  t.match(result.stderr, /^jobgate: [^\n]+\n$/, `${what}: exactly one line on stderr`);
  t.equal(result.stdout, '', `${what}: nothing on stdout`);
}

/**
 * Whether a terminal acts on or hides `codePoint` instead of showing it: C0 controls, DEL, C1
 * controls, bidi embeddings, overrides and isolates, zero-width and other invisible format
 * characters, line and paragraph separators, tag characters, lone surrogates. Written from that
 * list, independently of src/cli/terminal.ts.
 */
export function isHidden(codePoint: number): boolean {
  return (
    codePoint <= 0x1f ||
    (codePoint >= 0x7f && codePoint <= 0x9f) ||
    codePoint === 0xad ||
    codePoint === 0x61c ||
    (codePoint >= 0x200b && codePoint <= 0x200f) ||
    (codePoint >= 0x2028 && codePoint <= 0x202e) ||
    (codePoint >= 0x2060 && codePoint <= 0x2064) ||
    (codePoint >= 0x2066 && codePoint <= 0x206f) ||
    codePoint === 0xfeff ||
    (codePoint >= 0xfff9 && codePoint <= 0xfffb) ||
    (codePoint >= 0xd800 && codePoint <= 0xdfff) ||
    (codePoint >= 0xe0000 && codePoint <= 0xe007f)
  );
}

/**
 * The hidden characters in `text` other than line breaks, as `U+1B` names: an assertion that
 * printed the raw text on failure would garble the test report itself.
 */
export function hiddenCharacters(text: string): string[] {
  const found: string[] = [];
  for (const character of text) {
    const codePoint = character.codePointAt(0) ?? 0;
    if (codePoint !== 0x0a && isHidden(codePoint)) found.push(`U+${codePoint.toString(16).toUpperCase()}`);
  }
  return found;
}
