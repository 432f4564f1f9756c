import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { AuditLog } from '../../src/audit/log.js';
import { ControlClient } from '../../src/cli/control-client.js';
import { InputError } from '../../src/errors.js';
import { KeySpace } from '../../src/redis/index.js';
import { JOBGATE_BIN, runCli, type CliResult } from '../helpers/cli.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { eventually, within } from '../helpers/wait.js';

// The CLI in both of its modes against one real jobgate and its Redis: directly on Redis, and as a
// client of the control API (--server, JOBGATE_TOKEN). The same script prints the same documents
// and exits with the same codes; the audit trail tells the two apart by their actors.

const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: '127.0.0.1' });
t.teardown(() => h.close());

const root = await h.tokens.create({ name: 'root', role: 'operator' });
const reader = await h.tokens.create({ name: 'reader', role: 'read' });
const keyPrefix = h.settings.keyPrefix ?? 'jobgate:';
const trail = new AuditLog(h.admin, new KeySpace(keyPrefix));

type Mode = 'redis' | 'server';
const MODES: readonly Mode[] = ['redis', 'server'];

/** The CLI in `mode`: the server mode has no Redis settings at all, only jobgate's URL and the token. */
function cli(mode: Mode, args: readonly string[], token = root.value): Promise<CliResult> {
  if (mode === 'redis') return runCli(args, { JOBGATE_REDIS_URL: h.redisServer.url, JOBGATE_KEY_PREFIX: keyPrefix });
  return runCli(['--server', h.url, ...args], { JOBGATE_TOKEN: token });
}

/** What differs between two runs of the same script: ids of new tokens, times, token values. */
function normalised(text: string, ids: readonly string[]): string {
  // A value holds its token's id: values first.
  let out = text.replace(/jgt_[0-9a-f_-]+/g, '<value>').replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
  for (const [i, id] of ids.entries()) out = out.replaceAll(id, `<token-${i}>`);
  return inOrder(out);
}

/** A list sorted: the stores list by id, and a new token's random id puts it anywhere. */
function inOrder(text: string): string {
  if (text.startsWith('- '))
    return `${text
      .slice(0, -1)
      .split(/\n(?=- )/)
      .sort()
      .join('\n')}\n`;
  if (text.startsWith('ID ')) {
    const [header, ...rows] = text.slice(0, -1).split('\n');
    return `${[header, ...rows.sort()].join('\n')}\n`;
  }
  return text;
}

interface Step {
  readonly args: readonly string[];
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The script of the issue, run in `mode`; each step's result, normalised. */
async function script(mode: Mode): Promise<Step[]> {
  const steps: Array<{ args: readonly string[]; result: CliResult }> = [];
  const run = async (...args: string[]) => {
    const result = await cli(mode, args);
    steps.push({ args, result });
    return result;
  };
  await run('job', 'put', 'nb', '--upstream', 'http://127.0.0.1:9/', '-l', 'team=a', '--port', '8080=http://127.0.0.1:9/');
  const created = await run('token', 'create', 'ci', '-r', 'read', '-l', 'team=a');
  const id = /^id: (\S+)$/m.exec(created.stdout)?.[1] ?? 'no id printed';
  await run('token', 'list');
  await run('token', 'list', '-o', 'table');
  await run('token', 'get', id, '-o', 'json');
  await run('token', 'get', 'ci');
  await run('token', 'renew', id);
  await run('job', 'list', '-o', 'table');
  await run('job', 'list', '-o', 'json');
  await run('job', 'get', 'nb');
  await run('token', 'delete', 'ci');
  await run('job', 'delete', 'nb');
  return steps.map(({ args, result }) => ({
    args: args.map((arg) => normalised(arg, [id])),
    code: result.code ?? -1,
    stdout: normalised(result.stdout, [id]),
    stderr: normalised(result.stderr, [id]),
  }));
}

interface EventDoc {
  id: string;
  action: string;
  target: { kind: string; id: string; name?: string };
  actor: { kind: string; tokenName?: string; user?: string };
}

const actionsOf = (events: EventDoc[]) => events.map((event) => `${event.action} ${event.target.kind === 'token' ? event.target.name : event.target.id}`);
const SCRIPT_EVENTS = ['job.put nb', 'token.create ci', 'token.renew ci', 'token.delete ci', 'job.delete nb'];

t.test('the same script prints the same documents and exits alike on Redis and through the control API', async (t) => {
  const runs: Partial<Record<Mode, Step[]>> = {};
  const after: Partial<Record<Mode, string>> = {};
  for (const mode of MODES) {
    after[mode] = (await trail.lastId()) ?? '0-0';
    runs[mode] = await script(mode);
  }
  const [direct, server] = [runs.redis!, runs.server!];
  t.equal(direct.length, server.length);
  for (const [i, step] of direct.entries()) {
    const what = `jobgate ${step.args.join(' ')}`;
    t.equal(step.code, 0, `${what}: exit 0 on Redis`);
    t.same(server[i], step, `${what}: the same exit code, stdout and stderr through the control API`);
  }
  t.match(direct[1]!.stdout, /value: <value>/, 'create prints the value');
  t.match(direct[4]!.stdout, /"name": "ci"/, 'get by id in JSON');
  t.match(direct[7]!.stdout, /^ID +LABELS +UPSTREAM/, 'a table');

  // The trail: the direct CLI's events name the OS user, the server's name the operator token.
  for (const mode of MODES) {
    const listed = await cli(mode, ['events', '--after', after[mode]!, '--limit', String(SCRIPT_EVENTS.length), '-o', 'json']);
    t.equal(listed.code, 0, `${mode}: events exit 0`);
    const events = JSON.parse(listed.stdout) as EventDoc[];
    t.same(actionsOf(events), SCRIPT_EVENTS, `${mode}: one event per change, in order`);
    const expected = mode === 'redis' ? 'cli' : 'token';
    t.same(new Set(events.map((event) => event.actor.kind)), new Set([expected]), `${mode}: every actor is of kind ${expected}`);
    if (mode === 'server')
      t.ok(
        events.every((event) => event.actor.tokenName === 'root'),
        'naming the operator token',
      );
  }
});

t.test('errors exit alike in both modes, with the server saying why', async (t) => {
  const cases: Array<[string, string[], number]> = [
    ['a bad role', ['token', 'create', 'x', '-r', 'admin'], 2],
    ['a bad selector', ['token', 'create', 'x', '-r', 'read', '-l', 'team in (a'], 2],
    ['an unknown token id', ['token', 'get', '0b5c2a36-8f1e-4a8e-9a57-1c2d3e4f5a6b'], 1],
    ['an unknown token name', ['token', 'delete', 'nobody'], 1],
    ['renewing an unknown token', ['token', 'renew', '0b5c2a36-8f1e-4a8e-9a57-1c2d3e4f5a6b'], 1],
    ['an unknown job', ['job', 'get', 'nope'], 1],
    ['deleting an unknown job', ['job', 'delete', 'nope'], 1],
    ['a bad job id', ['job', 'get', 'Nope!'], 2],
    ['a bad event id', ['events', '--after', 'yesterday'], 2],
  ];
  for (const [what, args, code] of cases) {
    for (const mode of MODES) {
      const result = await cli(mode, args);
      t.equal(result.code, code, `${what}, ${mode}: exit ${code}`);
      t.match(result.stderr, /^jobgate: [^\n]+\n$/, `${what}, ${mode}: one line on stderr`);
      t.equal(result.stdout, '', `${what}, ${mode}: nothing on stdout`);
    }
  }
  const read = await cli('server', ['token', 'list'], reader.value);
  t.equal(read.code, 1, 'a read token: exit 1');
  t.match(read.stderr, /403 insufficient_scope\): The control API needs an operator token; this one is a read token\./, "with the server's message");
  const wrong = await cli('server', ['job', 'list'], `${root.value.slice(0, -2)}00`);
  t.equal(wrong.code, 1, 'a wrong secret: exit 1');
  t.match(wrong.stderr, /401/);
});

t.test("a 400 from the server is bad input (exit 2), with the server's message", async (t) => {
  // The CLI checks its arguments before sending them; the client itself meets the server's check.
  const client = new ControlClient({ origin: h.url, token: root.value });
  await t.rejects(client.createToken({ name: 'x', role: 'admin', labelSelector: '' }), InputError);
  await t.rejects(client.createToken({ name: 'x', role: 'admin', labelSelector: '' }), /role/);
  await t.rejects(client.putJob({ id: 'bad', upstream: 'ftp://nowhere', labels: {}, ports: {}, unsecureHttp: false }), InputError);
  t.equal(await client.findToken('0b5c2a36-8f1e-4a8e-9a57-1c2d3e4f5a6b'), undefined, 'an unknown id is found absent');
});

t.test('--server and JOBGATE_TOKEN are checked before anything is sent', async (t) => {
  const env = { JOBGATE_TOKEN: root.value };
  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['no JOBGATE_TOKEN', ['--server', h.url, 'token', 'list'], {}, /set JOBGATE_TOKEN to an operator token/],
    ['JOBGATE_SERVER without JOBGATE_TOKEN', ['token', 'list'], { JOBGATE_SERVER: h.url }, /JOBGATE_SERVER needs a token: set JOBGATE_TOKEN/],
    ['a token flag', ['--server', h.url, '--token', root.value, 'token', 'list'], env, /--token is refused.*set JOBGATE_TOKEN/],
    ['a token in the URL', ['--server', h.url.replace('http://', `http://${root.value}@`), 'token', 'list'], env, /carries credentials/],
    ['a query', ['--server', `${h.url}/?token=x`, 'token', 'list'], env, /no query/],
    ['not http', ['--server', 'ftp://127.0.0.1/', 'token', 'list'], env, /expected an http or https URL/],
    ['not a URL', ['--server', 'jobgate', 'token', 'list'], env, /expected jobgate's URL/],
    ['a malformed token', ['--server', h.url, 'token', 'list'], { JOBGATE_TOKEN: 'secret' }, /JOBGATE_TOKEN does not hold a jobgate token/],
  ];
  for (const [what, args, caseEnv, message] of cases) {
    const result = await runCli(args, caseEnv);
    t.equal(result.code, 2, `${what}: exit 2`);
    t.match(result.stderr, message, what);
    t.notMatch(result.stderr, root.value, `${what}: the token is never echoed`);
  }
  const closed = await closedPort();
  const unreachable = await runCli(['--server', `http://127.0.0.1:${closed}`, 'job', 'list'], env);
  t.equal(unreachable.code, 1, 'an unreachable server: exit 1');
  t.equal(unreachable.stderr, `jobgate: cannot reach jobgate at http://127.0.0.1:${closed}: ECONNREFUSED\n`);
  const clear = await runCli(['--server', 'http://jobgate.invalid', 'job', 'list'], env);
  t.equal(clear.code, 1, 'an unknown host: exit 1');
  t.match(
    clear.stderr,
    /^jobgate: warning: http:\/\/jobgate\.invalid is plain http: JOBGATE_TOKEN travels in clear/,
    'plain http to another machine: a warning',
  );
  t.notMatch((await cli('server', ['job', 'list'])).stderr, /warning/, 'no warning on loopback');
});

/** A loopback port that nothing listens on (a server's, just closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test('jobgate events: the trail in both modes, --after and --limit', async (t) => {
  const start = (await trail.lastId()) ?? '0-0';
  for (const id of ['ev-a', 'ev-b', 'ev-c']) await h.jobs.put({ id, upstream: 'http://127.0.0.1:9/', labels: {} });
  const outputs: string[] = [];
  for (const mode of MODES) {
    const all = await cli(mode, ['events', '--after', start, '-o', 'json']);
    t.equal(all.code, 0, `${mode}: exit 0`);
    const events = JSON.parse(all.stdout) as EventDoc[];
    t.same(actionsOf(events), ['job.put ev-a', 'job.put ev-b', 'job.put ev-c'], `${mode}: the events after --after, oldest first`);
    outputs.push(all.stdout);
    const limited = JSON.parse((await cli(mode, ['events', '--after', start, '--limit', '2', '-o', 'json'])).stdout) as EventDoc[];
    t.same(actionsOf(limited), ['job.put ev-a', 'job.put ev-b'], `${mode}: --limit 2`);
    const rest = JSON.parse((await cli(mode, ['events', '--after', limited[1]!.id, '-o', 'json'])).stdout) as EventDoc[];
    t.same(actionsOf(rest), ['job.put ev-c'], `${mode}: --after the last one read`);
    const yaml = await cli(mode, ['events', '--after', start, '--limit', '1']);
    t.match(yaml.stdout, /^- id: \d+-\d+\n {2}time: .*\n {2}action: job\.put\n/, `${mode}: YAML by default`);
    const none = await cli(mode, ['events', '--after', events[2]!.id]);
    t.equal(none.stdout, '[]\n', `${mode}: nothing after the newest`);
    const bad = await cli(mode, ['events', '--limit', '0']);
    t.equal(bad.code, 2, `${mode}: --limit 0 is bad input`);
  }
  t.equal(outputs[0], outputs[1], 'the same document from Redis and from the control API');
  const all = await cli('redis', ['events', '-o', 'json']);
  t.ok((JSON.parse(all.stdout) as EventDoc[]).length >= 3, 'without --after: the whole trail');
});

t.test('jobgate events --follow prints each new event as a JSON line, and stops on SIGTERM with exit 0', async (t) => {
  for (const mode of MODES) {
    const start = (await trail.lastId()) ?? '0-0';
    const args = [...(mode === 'server' ? ['--server', h.url] : []), 'events', '--follow', '--after', start, '-o', 'json'];
    const env =
      mode === 'server'
        ? { PATH: process.env.PATH ?? '', JOBGATE_TOKEN: root.value }
        : { PATH: process.env.PATH ?? '', JOBGATE_REDIS_URL: h.redisServer.url, JOBGATE_KEY_PREFIX: keyPrefix };
    const child = spawn(process.execPath, [JOBGATE_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      const job = `follow-${mode}`;
      await h.jobs.put({ id: job, upstream: 'http://127.0.0.1:9/', labels: {} });
      await eventually(`${mode}: the follower to print job.put ${job}`, () => stdout.includes(`"id":"${job}"`));
      await h.jobs.delete(job);
      await eventually(`${mode}: the follower to print job.delete ${job}`, () => stdout.includes('"action":"job.delete"'));
      const lines = stdout.trimEnd().split('\n');
      t.same(actionsOf(lines.map((line) => JSON.parse(line) as EventDoc)), [`job.put ${job}`, `job.delete ${job}`], `${mode}: one JSON object per line`);
    } finally {
      child.kill('SIGTERM');
    }
    t.equal(await within(exited, `${mode}: the follower to exit after SIGTERM`), 0, `${mode}: exit 0 on SIGTERM`);
    t.equal(stderr, '', `${mode}: nothing on stderr`);
  }
});
