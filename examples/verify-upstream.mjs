#!/usr/bin/env node
// An upstream that trusts only what jobgate signed: it verifies X-Jobgate-Assertion against
// jobgate's JWKS and answers 401 to a request without a valid one (forged, expired, for
// another job or another port of this job, or missing). Run it beside a job, naming what it is:
//   JWKS_URL=http://127.0.0.1:9090/.well-known/jobgate/jwks.json JOB_ID=notebook PORT=8888 node examples/verify-upstream.mjs
// The assertion's audience names exactly one upstream: `job:<id>` for the job's default upstream,
// `job:<id>:<port>` for its other port <port> (set JOB_PORT too), or AUDIENCE=https://<api-host>
// for the training API (http:// unless jobgate runs with JOBGATE_PUBLIC_SCHEME=https).
import { createServer } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const { JOB_ID, JOB_PORT } = process.env;
const audience = process.env.AUDIENCE ?? (JOB_ID && (JOB_PORT ? `job:${JOB_ID}:${JOB_PORT}` : `job:${JOB_ID}`));
if (!audience) {
  console.error("verify-upstream: set JOB_ID (and JOB_PORT for a port other than the job's default), or AUDIENCE");
  process.exit(2);
}
const jwks = createRemoteJWKSet(new URL(process.env.JWKS_URL ?? 'http://127.0.0.1:9090/.well-known/jobgate/jwks.json'));
const issuer = process.env.ISSUER ?? 'jobgate';

const server = createServer(async (req, res) => {
  try {
    const { payload } = await jwtVerify(String(req.headers['x-jobgate-assertion'] ?? ''), jwks, { issuer, audience, algorithms: ['ES256', 'EdDSA'] });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ hello: payload.name, tokenId: payload.sub, role: payload.role }));
  } catch (error) {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'invalid_assertion', reason: error.code ?? error.message }));
  }
});
server.listen(Number(process.env.PORT ?? 8888), '127.0.0.1', () => console.log(`verifying upstream for ${audience} on ${JSON.stringify(server.address())}`));
