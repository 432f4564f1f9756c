#!/usr/bin/env node
// An upstream that trusts only what jobgate signed: it verifies X-Jobgate-Assertion against
// jobgate's JWKS and answers 401 to a request without a valid one (forged, expired, for
// another job, or missing). Run it beside a job:
//   JWKS_URL=http://127.0.0.1:9090/.well-known/jobgate/jwks.json AUDIENCE=notebook PORT=8888 node examples/verify-upstream.mjs
import { createServer } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const jwks = createRemoteJWKSet(new URL(process.env.JWKS_URL ?? 'http://127.0.0.1:9090/.well-known/jobgate/jwks.json'));
const audience = process.env.AUDIENCE ?? 'notebook';
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
server.listen(Number(process.env.PORT ?? 8888), '127.0.0.1', () => console.log(`verifying upstream on ${JSON.stringify(server.address())}`));
