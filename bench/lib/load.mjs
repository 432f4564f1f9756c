// Load generators: wrk (a C program, preferred: it costs the machine less CPU) or, when
// wrk is not installed, autocannon (npm devDependency, run in this process).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const WRK_SCRIPT = fileURLToPath(new URL('../wrk.lua', import.meta.url));

function wrkVersion() {
  try {
    // `wrk -v` prints its version line and exits 1.
    execFileSync('wrk', ['-v'], { stdio: 'pipe' });
  } catch (error) {
    const text = `${error.stdout ?? ''}${error.stderr ?? ''}`;
    const match = /^wrk (\S+)/m.exec(text);
    if (match) return match[1];
  }
  return undefined;
}

/**
 * The load generator: `{ name, version, run(options) }`. `run` loads one URL for `seconds`
 * and resolves with { requests, seconds, rps, p50Ms, p99Ms, maxMs, errors, failedStatus, statuses },
 * where failedStatus counts answers >= 400, errors counts socket errors and timeouts, and
 * statuses ({ code: count }) is there when `countStatus` asked for it.
 * Header names are sent as given: use `Host` and `Authorization` (wrk adds its own Host
 * header unless one is named exactly `Host`).
 */
export async function loadGenerator(preference) {
  const version = preference === 'autocannon' ? undefined : wrkVersion();
  if (version) return { name: 'wrk', version, run: runWrk };
  if (preference === 'wrk') throw new Error('wrk is not installed (apt-get install wrk)');
  const { default: autocannon } = await import('autocannon');
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../node_modules/autocannon/package.json', import.meta.url)), 'utf8'));
  return { name: 'autocannon', version: pkg.version, run: (options) => runAutocannon(autocannon, options) };
}

/** Headers as `{ name: value }`; `tokensFile` (one value per line) turns on token cycling. */
async function runWrk({ port, headers, seconds, connections, tokensFile, countStatus }) {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', WRK_SCRIPT];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  args.push(`http://127.0.0.1:${port}/`);
  const child = spawn('wrk', args, {
    env: { ...process.env, JOBGATE_BENCH_TOKENS: tokensFile ?? '', JOBGATE_BENCH_STATUS: countStatus ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text) => (output += text));
  child.stderr.setEncoding('utf8').on('data', (text) => (output += text));
  const [code] = await once(child, 'close');
  const line = /JOBGATE_BENCH_RESULT ([\d ]+)/.exec(output);
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${output.trim()}`);
  const [requests, durationUs, p50Us, p99Us, maxUs, connect, read, write, status, timeout] = line[1].trim().split(' ').map(Number);
  const secs = durationUs / 1e6;
  const result = {
    requests,
    seconds: secs,
    rps: requests / secs,
    p50Ms: p50Us / 1000,
    p99Ms: p99Us / 1000,
    maxMs: maxUs / 1000,
    errors: connect + read + write + timeout,
    failedStatus: status,
  };
  if (countStatus) {
    result.statuses = {};
    for (const [, code, n] of output.matchAll(/JOBGATE_BENCH_STATUS (\d+) (\d+)/g)) result.statuses[code] = (result.statuses[code] ?? 0) + Number(n);
  }
  return result;
}

async function runAutocannon(autocannon, { port, headers, seconds, connections, tokensFile, countStatus }) {
  const options = { url: `http://127.0.0.1:${port}/`, connections, duration: seconds, pipelining: 1, timeout: 5, headers };
  if (tokensFile) {
    const tokens = readFileSync(tokensFile, 'utf8').split('\n').filter(Boolean);
    let index = 0;
    options.requests = [
      {
        setupRequest: (req) => {
          index = (index + 1) % tokens.length;
          return { ...req, headers: { ...req.headers, Authorization: `Bearer ${tokens[index]}` } };
        },
      },
    ];
  }
  const result = await autocannon(options);
  const requests = result.requests.total;
  const failedStatus = result['4xx'] + result['5xx'];
  const out = {
    requests,
    seconds: result.duration,
    rps: requests / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors + result.timeouts,
    failedStatus,
  };
  if (countStatus) out.statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count]));
  return out;
}
