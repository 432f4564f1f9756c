import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

export const JOBGATE_BIN = fileURLToPath(new URL('../../bin/jobgate.js', import.meta.url));

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
  // A clean environment (no stray JOBGATE_* from the developer's shell), keeping coverage collection.
  const base: Record<string, string> = { PATH: process.env.PATH ?? '' };
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
