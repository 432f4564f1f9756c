import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { bearer, request } from '../helpers/http.js';
import { startHarness, waitFor, type Harness } from '../helpers/jobgate.js';

/** A real upstream whose every answer the test writes by hand. */
async function upstream(t: Test, handler: RequestListener): Promise<string> {
  const server: Server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A harness with job nb1 in front of `upstreamUrl`, and a token for it. */
async function gateway(t: Test, upstreamUrl: string): Promise<{ h: Harness; auth: Record<string, string> }> {
  const h = await startHarness();
  t.teardown(() => h.close());
  await h.jobs.put({ id: 'nb1', upstream: upstreamUrl });
  const { value } = await h.tokens.create({ name: 'x', role: 'read' });
  return { h, auth: { host: 'nb1.job.test', ...bearer(value) } };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Sends `chunks` as a chunked request body, slowly enough that they are separate writes. */
function upload(url: string, headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method: 'POST', path: '/upload', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    let i = 0;
    const next = () => {
      if (i === chunks.length) return void req.end();
      if (req.write(chunks[i++])) setImmediate(next);
      else req.once('drain', next);
    };
    next();
  });
}

t.test('request and response bodies stream through whole, in both directions', async (t) => {
  const download = randomBytes(8 * 1024 * 1024);
  const url = await upstream(t, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => {
      if (req.url === '/upload') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end(`${req.headers['transfer-encoding'] ?? 'no-te'} ${req.headers['content-length'] ?? 'no-length'} ${sha256(Buffer.concat(parts))}`);
      }
      // No Content-Length: the upstream answers chunked, in 64 KiB writes.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let offset = 0; offset < download.length; offset += 65536) res.write(download.subarray(offset, offset + 65536));
      res.end();
    });
  });
  const { h, auth } = await gateway(t, url);

  const chunks = Array.from({ length: 64 }, () => randomBytes(64 * 1024));
  const sent = await upload(h.url, { ...auth, 'content-type': 'application/octet-stream' }, chunks);
  t.equal(sent.status, 200);
  t.equal(sent.body, `chunked no-length ${sha256(Buffer.concat(chunks))}`, 'a chunked upload of 4 MiB arrives whole, still chunked');

  const fixed = randomBytes(1024 * 1024);
  const sized = await upload(h.url, { ...auth, 'content-length': String(fixed.length) }, [fixed.subarray(0, 500_000), fixed.subarray(500_000)]);
  t.equal(sized.body, `no-te ${fixed.length} ${sha256(fixed)}`, 'a sized upload keeps its Content-Length');

  const received = await new Promise<Buffer>((resolve, reject) => {
    const { hostname, port } = new URL(h.url);
    httpRequest({ hostname, port, path: '/download', headers: auth, agent: false }, (res) => {
      const parts: Buffer[] = [];
      // A slow reader: jobgate must hold the upstream back rather than buffer 8 MiB or lose bytes.
      res.on('data', (chunk: Buffer) => {
        parts.push(chunk);
        res.pause();
        setTimeout(() => res.resume(), 1);
      });
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
  t.equal(received.length, download.length);
  t.equal(sha256(received), sha256(download), 'an 8 MiB chunked download arrives whole to a slow reader');
});

t.test("response headers: the upstream connection's own are dropped, the rest pass as sent", async (t) => {
  const url = await upstream(t, (req, res) => {
    req.resume();
    if (req.url === '/empty') {
      res.writeHead(204, { 'x-empty': 'yes' });
      return void res.end();
    }
    if (req.url === '/cached') {
      res.writeHead(304, { etag: '"v1"' });
      return void res.end();
    }
    res.writeHead(
      201,
      'Made It',
      [
        ['Set-Cookie', 'a=1; Path=/'],
        ['Set-Cookie', 'b=2; Path=/'],
        ['Connection', 'keep-alive, X-Upstream-Hop'],
        ['X-Upstream-Hop', 'secret'],
        ['Keep-Alive', 'timeout=1'],
        ['Proxy-Connection', 'keep-alive'],
        ['X-Kept', 'yes'],
        ['Content-Type', 'text/plain'],
        ['Content-Length', '5'],
      ].flat(),
    );
    res.end(req.method === 'HEAD' ? undefined : 'hello');
  });
  const { h, auth } = await gateway(t, url);
  const reply = await request(h.url, { headers: auth });
  t.equal(reply.status, 201);
  t.equal(reply.body, 'hello');
  t.same(reply.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/'], 'every Set-Cookie passes, in order');
  t.equal(reply.headers['x-kept'], 'yes');
  t.equal(reply.headers['x-upstream-hop'], undefined, 'a header the upstream named in Connection stays on its hop');
  t.equal(reply.headers['proxy-connection'], undefined);
  t.not(reply.headers['keep-alive'], 'timeout=1', "the upstream's Keep-Alive is not the client's");
  t.equal(reply.headers.connection, 'close', "Connection answers the client's request (Connection: close), not the upstream's keep-alive");
  const head = await request(h.url, { method: 'HEAD', headers: auth });
  t.equal(head.status, 201);
  t.equal(head.body, '');
  t.equal(head.headers['content-length'], '5', 'HEAD keeps the length of the body it does not carry');
  const empty = await request(h.url, { path: '/empty', headers: auth });
  t.same([empty.status, empty.headers['x-empty'], empty.body], [204, 'yes', '']);
  const cached = await request(h.url, { path: '/cached', headers: { ...auth, 'if-none-match': '"v1"' } });
  t.same([cached.status, cached.headers.etag], [304, '"v1"']);
});

t.test("the job's upstream path is a prefix of every request path; the query passes", async (t) => {
  const paths: string[] = [];
  const url = await upstream(t, (req, res) => {
    paths.push(req.url ?? '');
    req.resume();
    res.end('ok');
  });
  const h = await startHarness();
  t.teardown(() => h.close());
  await h.jobs.put({ id: 'nb1', upstream: `${url}/user/alice/` });
  await h.jobs.put({ id: 'nb2', upstream: `${url}/lab` });
  const { value } = await h.tokens.create({ name: 'x', role: 'read' });
  await request(h.url, { host: 'nb1.job.test', path: '/api/kernels?x=1&y=%20', headers: bearer(value) });
  await request(h.url, { host: 'nb2.job.test', path: '/tree', headers: bearer(value) });
  await request(h.url, { host: 'nb1.job.test', path: '/', headers: bearer(value) });
  t.same(paths, ['/user/alice/api/kernels?x=1&y=%20', '/lab/tree', '/user/alice/']);
});

t.test('an upstream that dies mid-answer cuts the client off, and the next request is served', async (t) => {
  const url = await upstream(t, (req, res) => {
    req.resume();
    if (req.url === '/dies') {
      res.writeHead(200, { 'content-length': '1000000' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    res.end('fine');
  });
  const { h, auth } = await gateway(t, url);
  const outcome = await new Promise<string>((resolve) => {
    const { hostname, port } = new URL(h.url);
    httpRequest({ hostname, port, path: '/dies', headers: auth, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve('ended'));
      res.on('error', () => resolve('cut off'));
      res.on('aborted', () => resolve('cut off'));
    })
      .on('error', () => resolve('cut off'))
      .end();
  });
  t.equal(outcome, 'cut off', 'a truncated body is not passed off as complete');
  const next = await request(h.url, { headers: auth });
  t.same([next.status, next.body], [200, 'fine']);
});

t.test('a client that leaves mid-answer ends the upstream request too', async (t) => {
  let upstreamClosed = false;
  let streaming: IncomingMessage | undefined;
  const url = await upstream(t, (req, res) => {
    streaming = req;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: first\n\n');
    const tick = setInterval(() => res.write('data: more\n\n'), 20);
    res.on('close', () => {
      clearInterval(tick);
      upstreamClosed = true;
    });
  });
  const { h, auth } = await gateway(t, url);
  await new Promise<void>((resolve, reject) => {
    const { hostname, port } = new URL(h.url);
    const req = httpRequest({ hostname, port, path: '/events', headers: auth, agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => undefined);
    req.on('close', resolve);
    req.once('error', reject);
    req.end();
  });
  await waitFor(() => upstreamClosed);
  t.ok(streaming, 'the upstream was reached');
  t.ok(upstreamClosed, 'the upstream saw its request end');
});

t.test('Expect: 100-continue uploads pass', async (t) => {
  const url = await upstream(t, (req, res) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => (size += chunk.length));
    req.on('end', () => res.end(`${req.headers.expect ?? 'no-expect'} ${size}`));
  });
  const { h, auth } = await gateway(t, url);
  const body = randomBytes(100_000);
  const reply = await new Promise<string>((resolve, reject) => {
    const { hostname, port } = new URL(h.url);
    const req = httpRequest(
      { hostname, port, method: 'PUT', path: '/file', headers: { ...auth, expect: '100-continue', 'content-length': String(body.length) }, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      },
    );
    req.on('continue', () => req.end(body));
    req.on('error', reject);
  });
  t.equal(reply, `no-expect ${body.length}`, 'jobgate answered the 100 itself; the upstream gets the body');
});
