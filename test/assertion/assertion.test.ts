import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { runCli } from '../helpers/cli.js';
import { bearer, request } from '../helpers/http.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { freePort } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';
import { eventually, nextEvent, within } from '../helpers/wait.js';

const pem = (key: ReturnType<typeof generateKeyPairSync>['privateKey']) => key.export({ format: 'pem', type: 'pkcs8' }) as string;
const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const nextKey = generateKeyPairSync('ed25519').privateKey;

let h: Harness;
let up: Upstream;
let jwks: JSONWebKeySet;

t.before(async () => {
  up = await Upstream.start('job');
  h = await startHarness({
    JOBGATE_ASSERTION_KEYS: pem(signingKey) + pem(nextKey),
    JOBGATE_ASSERTION_ISSUER: 'https://jobgate.example',
    JOBGATE_API_HOST: 'api.test',
    JOBGATE_API_UPSTREAM: up.url,
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url });
  await h.jobs.put({ id: 'pub', upstream: up.url, unsecureHttp: true });
  jwks = (await request(h.adminUrl, { path: '/.well-known/jobgate/jwks.json' })).json<JSONWebKeySet>();
});

t.teardown(async () => {
  await h?.close();
  await up?.close();
});

t.test('the JWKS publishes every key, on the admin listener and on every job host', async (t) => {
  t.equal(jwks.keys.length, 2, 'the signing key and the next one');
  t.same(
    jwks.keys.map((key) => [key.kty, key.alg, key.use]),
    [
      ['EC', 'ES256', 'sig'],
      ['OKP', 'EdDSA', 'sig'],
    ],
  );
  for (const key of jwks.keys) t.notOk('d' in key, 'no private part');
  const admin = await request(h.adminUrl, { path: '/.well-known/jobgate/jwks.json' });
  t.match(admin.headers['cache-control'], /max-age=\d+/);
  const onJobHost = await request(h.url, { host: 'nb1.job.test', path: '/__jobgate/jwks.json' });
  t.equal(onJobHost.status, 200);
  t.same(onJobHost.json(), jwks, 'the same document, without a credential');
  t.match(onJobHost.headers['cache-control'], /max-age=\d+/);
});

t.test('forwarded requests carry a signed assertion the upstream can verify', async (t) => {
  const { record, value } = await h.tokens.create({ name: 'alice', role: 'operator' });
  await request(h.url, { host: 'nb1.job.test', headers: { ...bearer(value), 'x-jobgate-assertion': 'forged' } });
  const assertion = String(up.last.headers['x-jobgate-assertion']);
  t.not(assertion, 'forged', 'a client-sent assertion never passes');
  const { payload, protectedHeader } = await jwtVerify(assertion, createLocalJWKSet(jwks), { issuer: 'https://jobgate.example', audience: 'job:nb1' });
  t.match(payload, { sub: record.id, name: 'alice', role: 'operator' });
  t.ok(payload.exp! - payload.iat! <= 60, 'expires within 60 s');
  t.equal(protectedHeader.alg, 'ES256');
  t.equal(protectedHeader.kid, jwks.keys[0]!.kid, 'the first key signs');

  await request(h.url, { host: 'nb1.job.test', headers: bearer(value) });
  t.equal(up.last.headers['x-jobgate-assertion'], assertion, 'reused for the same token, version and audience');
  const renewed = await h.tokens.renew(record.id);
  await eventually(
    'the renewed token value to pass',
    async () => (await request(h.url, { host: 'nb1.job.test', headers: bearer(renewed.value) })).status === 200,
  );
  t.not(up.last.headers['x-jobgate-assertion'], assertion, 'a renewed token gets a new one');

  await request(h.url, { host: 'api.test', path: '/v1/job', headers: bearer(renewed.value) });
  t.equal(decodeJwt(String(up.last.headers['x-jobgate-assertion'])).aud, 'http://api.test', 'API traffic: the audience is the API host as a URL');

  await request(h.url, { host: 'pub.job.test', headers: { 'x-jobgate-assertion': 'forged' } });
  t.equal(up.last.headers['x-jobgate-assertion'], undefined, 'unsecureHttp traffic carries none, and no forged one');
});

t.test("a token's name and role rewritten in place (admin script, then PUBLISH): the next assertion asserts the new ones", async (t) => {
  const { record, value } = await h.tokens.create({ name: 'op', role: 'operator' });
  const verify = async () => (await jwtVerify(String(up.last.headers['x-jobgate-assertion']), createLocalJWKSet(jwks), { audience: 'job:nb1' })).payload;
  t.equal((await request(h.url, { host: 'nb1.job.test', headers: bearer(value) })).status, 200);
  t.match(await verify(), { sub: record.id, name: 'op', role: 'operator' });

  // As docs/redis-schema.md tells an admin script: rewrite the hash, then publish token:<id>.
  const prefix = h.settings.keyPrefix!;
  await h.admin.hset(`${prefix}token:${record.id}`, { name: 'demoted', role: 'read' });
  await h.admin.publish(`${prefix}invalidate`, `token:${record.id}`);
  await eventually(
    'the rewritten role (read) to reach the upstream after the PUBLISH',
    async () => (await request(h.url, { host: 'nb1.job.test', headers: bearer(value) })).status === 200 && up.last.headers['x-jobgate-role'] === 'read',
  );
  t.equal(up.last.headers['x-jobgate-token-name'], 'demoted', 'the identity headers changed');
  t.match(await verify(), { sub: record.id, name: 'demoted', role: 'read' }, 'and the assertion of the same request says so too');
});

t.test('WebSocket handshakes carry it too', async (t) => {
  const { value } = await h.tokens.create({ name: 'ws', role: 'read' });
  const socket = new WebSocket(`${h.url.replace('http', 'ws')}/ws`, { headers: { host: 'nb1.job.test', ...bearer(value) } });
  t.teardown(() => socket.terminate());
  await nextEvent(socket, 'open', 'the WebSocket through jobgate to open');
  const { payload } = await jwtVerify(String(up.last.headers['x-jobgate-assertion']), createLocalJWKSet(jwks), { audience: 'job:nb1' });
  t.equal(payload.name, 'ws');
});

/** examples/verify-upstream.mjs on a free port with `env`; resolves once it listens. */
async function startVerifier(t: Test, env: Record<string, string>): Promise<number> {
  const port = await freePort();
  const example = spawn(process.execPath, [fileURLToPath(new URL('../../examples/verify-upstream.mjs', import.meta.url))], {
    env: {
      PATH: process.env.PATH ?? '',
      JWKS_URL: `${h.adminUrl}/.well-known/jobgate/jwks.json`,
      ISSUER: 'https://jobgate.example',
      PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => void example.kill());
  await within(
    new Promise((resolve, reject) => {
      example.stdout.once('data', resolve);
      example.once('exit', (code) => reject(new Error(`examples/verify-upstream.mjs exited (${code}) before it said it listens`)));
    }),
    `examples/verify-upstream.mjs to say it listens on port ${port}`,
  );
  return port;
}

t.test('examples/verify-upstream.mjs accepts jobgate and rejects forged, expired and missing assertions', async (t) => {
  const port = await startVerifier(t, { JOB_ID: 'verified' });
  await h.jobs.put({ id: 'verified', upstream: `http://127.0.0.1:${port}` });
  const { record, value } = await h.tokens.create({ name: 'bob', role: 'read' });

  const through = await request(h.url, { host: 'verified.job.test', headers: bearer(value) });
  t.equal(through.status, 200);
  t.same(through.json(), { hello: 'bob', tokenId: record.id, role: 'read' });

  const direct = (assertion?: string) => request(`http://127.0.0.1:${port}`, { headers: assertion ? { 'x-jobgate-assertion': assertion } : {} });
  t.equal((await direct()).status, 401, 'no assertion: bypassing jobgate does not work');
  const claims = { name: 'mallory', role: 'operator' };
  const forged = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: jwks.keys[0]!.kid! })
    .setIssuer('https://jobgate.example')
    .setAudience('job:verified')
    .setSubject(record.id)
    .setIssuedAt()
    .setExpirationTime('1m')
    .sign(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  t.equal((await direct(forged)).status, 401, 'signed by another key');
  const now = Math.floor(Date.now() / 1000);
  const signedByJobgateKey = (iat: number) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: jwks.keys[0]!.kid! })
      .setIssuer('https://jobgate.example')
      .setAudience('job:verified')
      .setSubject(record.id)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 60)
      .sign(signingKey);
  t.equal((await direct(await signedByJobgateKey(now))).status, 200, 'the check itself: a current one with that key passes');
  t.equal((await direct(await signedByJobgateKey(now - 120))).status, 401, 'expired');
  const otherJob = await request(h.url, { host: 'nb1.job.test', headers: bearer(value) });
  t.equal(otherJob.status, 200);
  t.equal((await direct(String(up.last.headers['x-jobgate-assertion']))).status, 401, "another job's assertion (wrong audience)");
});

t.test("a job's ports have their own audience: a port's service cannot replay its assertion to the main port, nor the reverse", async (t) => {
  const mainPort = await startVerifier(t, { JOB_ID: 'ported' });
  const boardPort = await startVerifier(t, { JOB_ID: 'ported', JOB_PORT: '6006' });
  await h.jobs.put({ id: 'ported', upstream: `http://127.0.0.1:${mainPort}`, ports: { '6006': `http://127.0.0.1:${boardPort}` } });
  const { value } = await h.tokens.create({ name: 'carol', role: 'read' });
  const main = await request(h.url, { host: 'ported.job.test', headers: bearer(value) });
  const board = await request(h.url, { host: 'ported-6006.job.test', headers: bearer(value) });
  t.equal(main.status, 200, 'the main port verifies its own assertion');
  t.equal(board.status, 200, 'port 6006 verifies its own assertion');

  // What each service received, captured by sending the same requests to the recording upstream.
  await h.jobs.put({ id: 'ported', upstream: up.url, ports: { '6006': up.url } });
  await eventually(
    'job ported to reach the recording upstream after its upstream changed',
    async () => (await request(h.url, { host: 'ported.job.test', headers: bearer(value) })).json<{ name?: string }>().name === 'job',
  );
  const forMain = String(up.last.headers['x-jobgate-assertion']);
  await request(h.url, { host: 'ported-6006.job.test', headers: bearer(value) });
  const forBoard = String(up.last.headers['x-jobgate-assertion']);
  t.equal(decodeJwt(forMain).aud, 'job:ported');
  t.equal(decodeJwt(forBoard).aud, 'job:ported:6006');

  const replay = (port: number, assertion: string) => request(`http://127.0.0.1:${port}`, { headers: { 'x-jobgate-assertion': assertion } });
  t.equal((await replay(mainPort, forBoard)).status, 401, "port 6006's assertion replayed to the main port: refused");
  t.equal((await replay(boardPort, forMain)).status, 401, "the main port's assertion replayed to port 6006: refused");
  t.equal((await replay(mainPort, forMain)).status, 200, 'each is accepted where it was meant to go');
  t.equal((await replay(boardPort, forBoard)).status, 200);
});

t.test("a single-label API host: the API's audience is a URL, never a job's", async (t) => {
  const single = await startHarness(
    { JOBGATE_ASSERTION_KEYS: pem(signingKey), JOBGATE_ASSERTION_ISSUER: 'https://jobgate.example', JOBGATE_API_HOST: 'nb1', JOBGATE_API_UPSTREAM: up.url },
    h.redisServer,
  );
  t.teardown(() => single.close());
  await single.jobs.put({ id: 'nb1', upstream: up.url });
  const { value } = await single.tokens.create({ name: 'dave', role: 'operator' });
  t.equal((await request(single.url, { host: 'nb1', path: '/v1/job', headers: bearer(value) })).status, 200);
  const forApi = String(up.last.headers['x-jobgate-assertion']);
  t.equal((await request(single.url, { host: 'nb1.job.test', headers: bearer(value) })).status, 200);
  const forJob = String(up.last.headers['x-jobgate-assertion']);
  t.equal(decodeJwt(forApi).aud, 'http://nb1');
  t.equal(decodeJwt(forJob).aud, 'job:nb1');
  await t.rejects(jwtVerify(forApi, createLocalJWKSet(jwks), { audience: 'job:nb1' }), 'a verifier for job nb1 refuses the API assertion');
  await t.rejects(jwtVerify(forJob, createLocalJWKSet(jwks), { audience: 'http://nb1' }), "the API's verifier refuses job nb1's");
});

t.test('without configured keys: a per-process key and a warning', async (t) => {
  const plain = await startHarness({}, h.redisServer);
  t.teardown(() => plain.close());
  t.match(plain.log.text, /no assertion key configured/);
  const keys = (await request(plain.adminUrl, { path: '/.well-known/jobgate/jwks.json' })).json<JSONWebKeySet>();
  t.equal(keys.keys.length, 1);
  t.equal(keys.keys[0]!.alg, 'ES256');
});

t.test('jobgate keys generate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jobgate-keys-'));
  const file = join(dir, 'signing.pem');
  const first = await runCli(['keys', 'generate', '--out', file]);
  t.equal(first.code, 0);
  t.match(first.stderr, /^wrote ES256 key \S+ to /);
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by its owner only');
  t.match(readFileSync(file, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  const again = await runCli(['keys', 'generate', '--out', file]);
  t.equal(again.code, 2, 'never overwrites');
  t.match(again.stderr, /exists/);

  const jwk = await runCli(['keys', 'generate', '--alg', 'EdDSA', '--format', 'jwk']);
  t.equal(jwk.code, 0);
  t.match(JSON.parse(jwk.stdout), { kty: 'OKP', crv: 'Ed25519', d: String });

  const fromFile = await startHarness({ JOBGATE_ASSERTION_KEY_FILES: file }, h.redisServer);
  t.teardown(() => fromFile.close());
  await fromFile.jobs.put({ id: 'nb9', upstream: up.url });
  const { value } = await fromFile.tokens.create({ name: 'c', role: 'read' });
  await request(fromFile.url, { host: 'nb9.job.test', headers: bearer(value) });
  const header = decodeProtectedHeader(String(up.last.headers['x-jobgate-assertion']));
  const published = (await request(fromFile.adminUrl, { path: '/.well-known/jobgate/jwks.json' })).json<JSONWebKeySet>();
  t.equal(header.kid, published.keys[0]!.kid, 'signed with the key from the file');
  t.equal(first.stderr.split(' ')[3], header.kid, 'the kid printed by keys generate');

  await t.rejects(startHarness({ JOBGATE_ASSERTION_KEYS: 'not a key' }, h.redisServer), /invalid setting JOBGATE_ASSERTION_KEYS/);
  await t.rejects(
    startHarness({ JOBGATE_ASSERTION_KEYS: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----' }, h.redisServer),
    /assertion key in JOBGATE_ASSERTION_KEYS/,
  );
  await t.rejects(startHarness({ JOBGATE_ASSERTION_KEY_FILES: join(dir, 'missing.pem') }, h.redisServer), /invalid setting JOBGATE_ASSERTION_KEY_FILES/);
});
