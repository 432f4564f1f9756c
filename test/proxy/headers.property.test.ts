/**
 * What reaches an upstream of the client's headers (src/proxy/headers.ts upstreamHeaders), for
 * generated header sets sent over a real socket to a real Node HTTP server, so that the headers
 * are exactly what Node's parser makes of them (names lowercased, duplicates merged). The oracle
 * is {@link clientHeaderVerdict}: one function saying what becomes of each client header.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { clientAddress, forwardedInfo, upstreamHeaders, type ForwardedInfo, type UpstreamHeaderOptions } from '../../src/proxy/headers.js';
import { check } from '../helpers/property.js';

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'transfer-encoding', 'expect'];
/** Headers a Connection header cannot remove: they carry the message itself. */
const MESSAGE_HEADERS = ['host', 'authorization', 'cookie', 'content-length', 'transfer-encoding'];
const SESSION_COOKIES = ['jobgate=', '__Host-jobgate='];

/** The names the Connection header lists (lowercased), when it applies (not on a WebSocket handshake). */
function connectionListed(headers: IncomingHttpHeaders, options: UpstreamHeaderOptions): Set<string> {
  if (options.upgrade || headers.connection === undefined) return new Set();
  return new Set(headers.connection.split(',').map((name) => name.trim().toLowerCase()));
}

/** True when text holds something that starts like a token value: `jgt_` and a hex digit. */
const holdsToken = (text: string): boolean => /jgt_[0-9a-f]/.test(text);

/** An Authorization value that holds a token value, in any scheme or as Basic's password. */
function authorizationHoldsToken(value: string): boolean {
  const basic = /^basic (.*)$/i.exec(value);
  return holdsToken(value) || (basic !== null && holdsToken(Buffer.from(basic[1]!.trim(), 'base64').toString('latin1')));
}

/** `name` with every '_' read as '-': some upstream stacks (CGI, WSGI) do not tell them apart. */
const dashed = (name: string): string => name.replaceAll('_', '-');

/**
 * THE ORACLE: what becomes of one client header (name lowercased, as Node gives it) on its way
 * to the upstream: 'drop' (never reaches it), 'cookie' (reaches it without jobgate's session
 * cookie), or 'keep' (unchanged). Extend this function when the rules grow.
 */
function clientHeaderVerdict(name: string, value: string | string[], listed: ReadonlySet<string>, options: UpstreamHeaderOptions): 'drop' | 'keep' | 'cookie' {
  // A handshake keeps its own Connection and Upgrade (then read as any other header below).
  if (HOP_BY_HOP.includes(name) && !(options.upgrade && (name === 'connection' || name === 'upgrade'))) return 'drop';
  // jobgate's identity namespace and the forwarding headers are jobgate's to set, in any spelling.
  if (dashed(name).startsWith('x-jobgate-')) return 'drop';
  if (dashed(name).startsWith('x-forwarded-') || name === 'forwarded' || dashed(name) === 'x-real-ip') return 'drop';
  // jobgate names the request; the client's own id reaches the upstream only as X-Client-Request-Id.
  if (dashed(name) === 'x-request-id' || dashed(name) === 'x-client-request-id') return 'drop';
  if (listed.has(name) && !MESSAGE_HEADERS.includes(name)) return 'drop';
  // The Authorization that carried the token goes, unless kept; the job's own goes only when it holds a token.
  if (name === 'authorization')
    return options.authorization === 'remove' || (options.authorization === 'job' && authorizationHoldsToken(value as string)) ? 'drop' : 'keep';
  if (name === 'content-length' && options.bodyLength !== undefined) return 'drop';
  if (name === 'cookie') return 'cookie';
  // No other header carries a token value to an upstream.
  return (Array.isArray(value) ? value : [value]).some(holdsToken) ? 'drop' : 'keep';
}

const cookiePairs = (value: string): string[] =>
  value
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair.length > 0);

/** The upstream's headers the oracle expects, as sorted "name: value" lines. */
function expectedHeaders(headers: IncomingHttpHeaders, options: UpstreamHeaderOptions): string[] {
  const listed = connectionListed(headers, options);
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const verdict = clientHeaderVerdict(name, value, listed, options);
    if (verdict === 'drop') continue;
    if (verdict === 'cookie') {
      const kept = cookiePairs(value as string).filter((pair) => !SESSION_COOKIES.some((cookie) => pair.startsWith(cookie)) && !holdsToken(pair));
      if (kept.length > 0) out.push(`cookie: ${kept.join('; ')}`);
      continue;
    }
    for (const each of Array.isArray(value) ? value : [value]) out.push(`${name}: ${each}`);
  }
  if (headers.host === undefined) out.push(`host: ${options.defaultHost}`);
  if (options.bodyLength !== undefined) out.push(`content-length: ${options.bodyLength}`);
  const { chain, proto, host } = options.forwarded;
  out.push(`x-forwarded-for: ${chain.join(', ')}`, `x-forwarded-proto: ${proto}`, `x-forwarded-host: ${host}`);
  // Always jobgate's request id; the client's (unless removed by Connection or holding a token) as X-Client-Request-Id if short and printable.
  out.push(`x-request-id: ${options.requestId}`);
  const clientId = headers['x-request-id'];
  if (typeof clientId === 'string' && !listed.has('x-request-id') && !holdsToken(clientId) && clientId.length <= 128 && /^[\x20-\x7e]+$/.test(clientId)) {
    out.push(`x-client-request-id: ${clientId}`);
  }
  if (options.identity) {
    out.push(
      `x-jobgate-token-id: ${options.identity.tokenId}`,
      `x-jobgate-token-name: ${options.identity.tokenName}`,
      `x-jobgate-role: ${options.identity.role}`,
    );
  }
  if (options.assertion !== undefined) out.push(`x-jobgate-assertion: ${options.assertion}`);
  return out.sort();
}

/** What upstreamHeaders gave, in the same form; the Forwarded header is checked on its own. */
function actualHeaders(flat: string[]): { lines: string[]; forwarded: string[] } {
  const lines: string[] = [];
  const forwarded: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    if (name === 'forwarded') forwarded.push(value);
    else lines.push(name === 'cookie' ? `cookie: ${cookiePairs(value).join('; ')}` : `${name}: ${value}`);
  }
  return { lines: lines.sort(), forwarded };
}

// --- generated client headers ---

const TCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+.^_`|~-";
/** Framing is chosen apart (see parsedByNode): a random name never takes over one of those headers. */
const FRAMING = ['host', 'content-length', 'transfer-encoding', 'expect', 'connection', 'upgrade'];
const randomName = fc
  .string({ unit: fc.constantFrom(...TCHAR.split('')), minLength: 1, maxLength: 12 })
  .filter((name) => !FRAMING.includes(name.toLowerCase()));
const namePool = [
  'Accept',
  'User-Agent',
  'X-Custom',
  'X-Request-Id',
  'x_request_id',
  'X-Client-Request-Id',
  'Content-Type',
  'Origin',
  'Referer',
  'Authorization',
  'Cookie',
  'Keep-Alive',
  'Proxy-Connection',
  'Proxy-Authorization',
  'TE',
  'Trailer',
  'Upgrade',
  'X-Jobgate-Token-Id',
  'X-Jobgate-Role',
  'X-Jobgate-Token-Name',
  'X-Jobgate-Assertion',
  'x_jobgate_role',
  'X-Jobgate_Other',
  'x_jobgate-x',
  'X-Forwarded-For',
  'X-Forwarded-Host',
  'X-Forwarded-Proto',
  'X-Forwarded-Port',
  'x_forwarded_for',
  'X-Forwarded_Host',
  'Forwarded',
  'X-Real-IP',
  'x_real_ip',
  // Near misses that must survive.
  'X-Jobgate',
  'X-Jobgateway',
  'Xjobgate-Role',
  'X-Forwardedfor',
  'Forwarded-For',
  'Real-IP',
  'X-Real-IPs',
  'Jobgate',
  'Request-Id',
  'X-Request-Ids',
];
const headerName = fc.oneof({ weight: 4, arbitrary: fc.mixedCase(fc.constantFrom(...namePool)) }, { weight: 1, arbitrary: randomName });

const visible = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 16 });
const TOKEN_SHAPED = 'jgt_0b5c2a36-8f1e-4a8e-9a57-1c2d3e4f5a6b_0000000000000000000000000000000000000000000000000000000000000000_12345678';
const cookieValue = fc
  .array(
    fc.constantFrom(
      'jobgate=abc',
      '__Host-jobgate=def',
      `jobgate=${TOKEN_SHAPED}`,
      `saved=${TOKEN_SHAPED}`,
      'p=jgt_',
      'other=1',
      'jobgatex=2',
      'JOBGATE=3',
      'x=jobgate=4',
      'a=b',
      'sid=jobgate',
    ),
    { minLength: 1, maxLength: 5 },
  )
  .chain((pairs) => fc.constantFrom('; ', ';', ' ; ').map((separator) => pairs.join(separator)));
const authorizationValue = fc.constantFrom(
  `Bearer ${TOKEN_SHAPED}`,
  `bearer ${TOKEN_SHAPED}`,
  `Token ${TOKEN_SHAPED}`,
  `Basic ${Buffer.from(`x:${TOKEN_SHAPED}`).toString('base64')}`,
  'Basic dXNlcjpwYXNz',
  'Bearer opaque-job-token',
  'Bearer jgt_',
  TOKEN_SHAPED,
);

/** One header line: a name and a value that suits it. */
const headerLine = headerName.chain((name) => {
  const lower = name.toLowerCase();
  const value =
    lower === 'cookie'
      ? cookieValue
      : lower === 'authorization'
        ? authorizationValue
        : lower === 'upgrade'
          ? fc.constantFrom('websocket', 'h2c')
          : fc.oneof(
              visible,
              visible.map((v) => `${v} ${v}`),
              visible.map((v) => `${v}${TOKEN_SHAPED.slice(0, 20)}`),
              fc.constantFrom(TOKEN_SHAPED, 'jgt_', 'JGT_0b5c'),
            );
  return value.map((v): [string, string] => [name, v]);
});

/** A Connection header listing some of the names (and the usual options). */
const connectionLine = fc
  .array(fc.oneof(headerName, fc.constantFrom('close', 'keep-alive', 'Upgrade', 'host', 'Authorization', 'cookie', 'Content-Length')), {
    minLength: 1,
    maxLength: 4,
  })
  .map((names): [string, string] => ['Connection', names.join(', ')]);

const clientHeaders = fc
  .tuple(fc.array(headerLine, { maxLength: 14 }), fc.array(connectionLine, { maxLength: 2 }), fc.constantFrom('none', 'chunked', 'length', 'continue'))
  .chain(([lines, connections, framing]) =>
    // Duplicate some lines, as clients (and attackers) do, then shuffle everything.
    fc
      .shuffledSubarray(lines)
      .chain((again) =>
        fc
          .shuffledSubarray([...lines, ...again, ...connections], { minLength: lines.length + again.length + connections.length })
          .map((all) => ({ lines: all, framing })),
      ),
  );

const options = fc.record({
  identity: fc.option(fc.record({ tokenId: fc.uuid(), tokenName: visible, role: fc.constantFrom('read', 'operator') }), { nil: undefined }),
  authorization: fc.constantFrom('remove', 'keep', 'job'),
  forwarded: fc.record({
    chain: fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { minLength: 1, maxLength: 3 }),
    proto: fc.constantFrom('http', 'https'),
    host: fc.constantFrom('nb.job.example', 'job.example:8443'),
  }),
  requestId: fc.uuid(),
  upgrade: fc.boolean(),
  assertion: fc.option(visible, { nil: undefined }),
  bodyLength: fc.option(fc.nat({ max: 1000 }), { nil: undefined }),
  defaultHost: fc.constant('upstream.internal:8080'),
});

// --- a real server to parse them ---

const captured: Array<(req: IncomingMessage) => void> = [];
const server = http.createServer((req, res) => {
  captured.shift()?.(req);
  res.writeHead(204).end();
});
server.on('upgrade', (req: IncomingMessage, socket: net.Socket) => {
  socket.on('error', () => {}); // the client hangs up once it has its answer
  captured.shift()?.(req);
  socket.end('HTTP/1.1 204 No Content\r\n\r\n');
});
server.on('checkExpectation', (req: IncomingMessage, res: http.ServerResponse) => {
  captured.shift()?.(req);
  res.writeHead(204).end();
});

/** Sends the lines in one request and returns the headers Node parsed, or the server's refusal. */
async function parsedByNode(lines: ReadonlyArray<readonly [string, string]>, framing: string): Promise<IncomingMessage> {
  const port = (server.address() as AddressInfo).port;
  const socket = net.connect(port, '127.0.0.1');
  try {
    const received = new Promise<IncomingMessage>((resolve, reject) => {
      captured.push(resolve);
      let answer = '';
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString('latin1');
        if (answer.startsWith('HTTP/1.1 4') || answer.startsWith('HTTP/1.1 5')) reject(new Error(`Node refused the request: ${answer.split('\r\n')[0]}`));
      });
      socket.on('error', reject);
    });
    const framingLines =
      framing === 'chunked'
        ? 'Transfer-Encoding: chunked\r\n'
        : framing === 'length'
          ? 'Content-Length: 3\r\n'
          : framing === 'continue'
            ? 'Expect: 100-continue\r\nContent-Length: 3\r\n'
            : '';
    const body = framing === 'chunked' ? '3\r\nabc\r\n0\r\n\r\n' : framing === 'length' || framing === 'continue' ? 'abc' : '';
    const head = lines.map(([name, value]) => `${name}: ${value}\r\n`).join('');
    socket.write(`POST /p HTTP/1.1\r\nHost: nb.job.example\r\n${head}${framingLines}\r\n${body}`, 'latin1');
    return await received;
  } finally {
    socket.destroy();
  }
}

t.before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
t.teardown(() => {
  server.close();
});

/** Throws unless upstreamHeaders gives, for the headers Node parsed, exactly what the oracle expects. */
function assertUpstreamHeaders(req: IncomingMessage, opts: UpstreamHeaderOptions): void {
  const out = upstreamHeaders(req.headers, opts);
  const actual = actualHeaders(out);
  const expected = expectedHeaders(req.headers, opts);
  const context = (): string => `client headers ${JSON.stringify(req.rawHeaders)}, options ${JSON.stringify(opts)}`;
  if (JSON.stringify(actual.lines) !== JSON.stringify(expected)) {
    const missing = expected.filter((line) => !actual.lines.includes(line));
    const extra = actual.lines.filter((line) => !expected.includes(line));
    throw new Error(`upstream headers differ: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}; ${context()}`);
  }
  if (actual.forwarded.length !== 1) throw new Error(`${actual.forwarded.length} Forwarded headers; ${context()}`);
  const { chain, proto } = opts.forwarded;
  const forwarded = actual.forwarded[0]!;
  if (!forwarded.endsWith(`;proto=${proto}`) || chain.some((address) => !forwarded.includes(address))) throw new Error(`Forwarded ${forwarded}; ${context()}`);
}

t.test('no client header that must not survive does; every other one survives unchanged; one set of forwarding headers', async (t) => {
  await check(
    fc.asyncProperty(clientHeaders, options, async ({ lines, framing }, opts) => {
      assertUpstreamHeaders(await parsedByNode(lines, framing), opts);
    }),
    300,
  );
  t.pass();
});

t.test('cases the property found: forwarding headers spelled with "_", and a Connection header naming one message header', async (t) => {
  const opts: UpstreamHeaderOptions = {
    identity: undefined,
    authorization: 'job',
    forwarded: { chain: ['192.0.2.7'], proto: 'https', host: 'nb.job.example' },
    requestId: 'req-1',
    upgrade: false,
    defaultHost: 'upstream.internal:8080',
  };
  const cases: Array<[string, Array<[string, string]>, string]> = [
    ['x_forwarded_for', [['x_forwarded_for', '203.0.113.9']], 'none'],
    ['X_Forwarded_Host', [['X_Forwarded_Host', 'evil.example']], 'none'],
    ['x-forwarded_proto', [['x-forwarded_proto', 'https']], 'none'],
    ['X_Real_IP', [['X_Real_IP', '203.0.113.9']], 'none'],
    ['Connection: host', [['Connection', 'host']], 'none'],
    [
      'Connection: authorization',
      [
        ['Connection', 'Authorization'],
        ['Authorization', 'Basic dXNlcjpwYXNz'],
      ],
      'none',
    ],
    [
      'Connection: cookie',
      [
        ['Connection', 'cookie'],
        ['Cookie', 'a=b'],
      ],
      'none',
    ],
    ['Connection: content-length', [['Connection', 'content-length']], 'length'],
  ];
  for (const [name, lines, framing] of cases) {
    const req = await parsedByNode(lines, framing);
    t.doesNotThrow(() => assertUpstreamHeaders(req, opts), name);
  }
});

t.test("the upstream's X-Request-Id is jobgate's; a client's is X-Client-Request-Id when short and printable", async (t) => {
  const opts: UpstreamHeaderOptions = {
    identity: undefined,
    authorization: 'job',
    forwarded: { chain: ['192.0.2.7'], proto: 'https', host: 'nb.job.example' },
    requestId: 'jobgate-id',
    upgrade: false,
    defaultHost: 'upstream.internal:8080',
  };
  const seen = async (lines: Array<[string, string]>) => {
    const out = upstreamHeaders((await parsedByNode(lines, 'none')).headers, opts);
    const values = (wanted: string) => out.filter((_, i) => i % 2 === 1 && out[i - 1] === wanted);
    return { requestId: values('x-request-id'), clientRequestId: values('x-client-request-id'), underscored: values('x_request_id') };
  };
  t.same(await seen([]), { requestId: ['jobgate-id'], clientRequestId: [], underscored: [] }, 'none sent: jobgate adds its own');
  t.same(
    await seen([['X-Request-Id', 'client-chosen']]),
    { requestId: ['jobgate-id'], clientRequestId: ['client-chosen'], underscored: [] },
    "the client's is renamed",
  );
  t.same(await seen([['x_request_id', 'client-chosen']]), { requestId: ['jobgate-id'], clientRequestId: [], underscored: [] }, "the '_' spelling is dropped");
  t.same(
    await seen([['X-Client-Request-Id', 'forged']]),
    { requestId: ['jobgate-id'], clientRequestId: [], underscored: [] },
    'X-Client-Request-Id is set by jobgate only',
  );
  t.same((await seen([['X-Request-Id', 'a'.repeat(129)]])).clientRequestId, [], 'longer than 128 characters: dropped');
  t.same((await seen([['X-Request-Id', 'a'.repeat(128)]])).clientRequestId, ['a'.repeat(128)], '128 characters: kept');
  t.same((await seen([['X-Request-Id', 'caf\u00e9\tid']])).clientRequestId, [], 'not printable ASCII: dropped');
  t.same((await seen([['X-Request-Id', TOKEN_SHAPED]])).clientRequestId, [], 'holding a token: dropped');
});

/**
 * Sends `request` as it is and returns what `read` makes of the request Node parsed, read in the
 * server's handler, while the client's socket is still open.
 */
async function handled<T>(request: string, read: (req: IncomingMessage) => T): Promise<T> {
  let result: { value: T } | { error: unknown } | undefined;
  captured.push((req) => {
    try {
      result = { value: read(req) };
    } catch (error) {
      result = { error };
    }
  });
  const port = (server.address() as AddressInfo).port;
  const socket = net.connect(port, '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.on('data', () => resolve());
      socket.on('error', reject);
      socket.write(request, 'latin1');
    });
  } finally {
    socket.destroy();
  }
  if (result === undefined) throw new Error('the request did not reach the server');
  if ('error' in result) throw result.error;
  return result.value;
}

const requestWith = (lines: ReadonlyArray<readonly [string, string]>, firstLines = 'GET /p HTTP/1.1\r\nHost: nb.job.example\r\n'): string =>
  `${firstLines}${lines.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;

/** forwardedInfo for the headers Node parsed. */
const forwardedOf = (lines: Array<[string, string]>, trustedHops: number, ownProto = 'http'): Promise<ForwardedInfo> =>
  handled(requestWith(lines), (req) => forwardedInfo(req, trustedHops, ownProto));

t.test('Cases found by mutation testing: what forwardedInfo trusts', async (t) => {
  const sent: Array<[string, string]> = [
    ['X-Forwarded-For', '203.0.113.1, 198.51.100.2'],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Host', 'public.example'],
  ];
  t.same(await forwardedOf(sent, 0, 'http'), { chain: ['127.0.0.1'], proto: 'http', host: 'nb.job.example' }, 'no trusted hop: only what jobgate saw');
  t.same(
    await forwardedOf(sent, 1, 'http'),
    { chain: ['198.51.100.2', '127.0.0.1'], proto: 'https', host: 'public.example' },
    'one trusted hop: the last address, proto and host sent',
  );
  t.same((await forwardedOf(sent, 2)).chain, ['203.0.113.1', '198.51.100.2', '127.0.0.1'], 'two trusted hops');
  t.same((await forwardedOf(sent, 3)).chain, ['203.0.113.1', '198.51.100.2', '127.0.0.1'], 'more trusted hops than addresses sent');
  t.equal(clientAddress(await forwardedOf(sent, 1)), '198.51.100.2', 'the client is the first trusted address');
  t.equal(clientAddress(await forwardedOf(sent, 0)), '127.0.0.1', 'or the peer');

  t.same(await forwardedOf([], 1, 'https'), { chain: ['127.0.0.1'], proto: 'https', host: 'nb.job.example' }, 'nothing sent: what jobgate saw');
  t.same(
    (await forwardedOf([['X-Forwarded-For', ' , 203.0.113.1 ,,  ']], 2)).chain,
    ['203.0.113.1', '127.0.0.1'],
    'empty entries are skipped and addresses trimmed',
  );
  t.same(
    (
      await forwardedOf(
        [
          ['X-Forwarded-For', '203.0.113.1'],
          ['X-Forwarded-For', '198.51.100.2'],
        ],
        1,
      )
    ).chain,
    ['198.51.100.2', '127.0.0.1'],
    'two X-Forwarded-For headers read as one list',
  );

  const proto = async (value: string) => (await forwardedOf([['X-Forwarded-Proto', value]], 1, 'own')).proto;
  t.equal(await proto('http, https'), 'https', 'the last of a list');
  t.equal(await proto(' https '), 'https', 'trimmed');
  t.equal(await proto('https,'), 'own', "an empty last entry: jobgate's own");
  t.equal(await proto(' '), 'own', "blank: jobgate's own");

  const host = async (value: string) => (await forwardedOf([['X-Forwarded-Host', value]], 1)).host;
  t.equal(await host('a.example, b.example'), 'b.example');
  t.equal(await host('a,b.example'), 'b.example', 'a comma right after the first character');
  t.equal(await host(`${'h'.repeat(251)}.com`), `${'h'.repeat(251)}.com`, '255 characters: kept');
  t.equal(await host(`${'h'.repeat(252)}.com`), 'nb.job.example', '256 characters: the Host header instead');
});

t.test('Cases found by mutation testing: what upstreamHeaders passes on', async (t) => {
  const opts: UpstreamHeaderOptions = {
    identity: undefined,
    authorization: 'job',
    forwarded: { chain: ['192.0.2.7'], proto: 'https', host: 'nb.job.example' },
    requestId: 'jobgate-id',
    upgrade: false,
    defaultHost: 'upstream.internal:8080',
  };
  /** The upstream's headers for `lines` as Node parses them, as "name: value" lines; the oracle must agree unless told not to. */
  const upstreamOf = async (lines: Array<[string, string]>, firstLines?: string, options = opts, oracle = true): Promise<string[]> => {
    const out = await handled(requestWith(lines, firstLines), (req) => {
      if (oracle) assertUpstreamHeaders(req, options);
      return upstreamHeaders(req.headers, options);
    });
    return out.flatMap((value, i) => (i % 2 === 1 ? [`${out[i - 1]}: ${value}`] : []));
  };

  t.test("names near jobgate's namespaces are the client's own", async (t) => {
    const kept = [
      'Y-Jobgate-Role', // jobgate's namespace starts with "x"
      'X.Jobgate-Role', // then "-" or "_"
      'X-Forw_rded-For', // "_" stands for "-" only
      'X-Client-Request-Ids',
      'X-Custom-Header-Abc', // as long as X-Client-Request-Id
      'X-Request-Idx',
    ];
    const out = await upstreamOf(kept.map((name) => [name, 'v']));
    for (const name of kept) t.ok(out.includes(`${name.toLowerCase()}: v`), name);
    const dropped = await upstreamOf([['X-Jobgate-', 'v']]);
    t.notOk(
      dropped.some((line) => line.startsWith('x-jobgate-:')),
      'X-Jobgate- itself is in the namespace',
    );
  });

  t.test("the client's X-Request-Id is passed on only when printable ASCII and not empty", async (t) => {
    const clientId = async (value: string) => (await upstreamOf([['X-Request-Id', value]])).filter((line) => line.startsWith('x-client-request-id:'));
    t.same(await clientId(''), [], 'empty');
    t.same(await clientId('a\tb'), [], 'a tab');
    t.same(await clientId('caf\u00e9'), [], 'a byte above 0x7e');
    t.same(await clientId('a~b '), ['x-client-request-id: a~b'], '"~", the last printable character');
    t.same(await clientId('!a'), ['x-client-request-id: !a']);
  });

  t.test('the Forwarded header, written out', async (t) => {
    const forwarded = async (info: ForwardedInfo) =>
      (await upstreamOf([], undefined, { ...opts, forwarded: info })).filter((line) => line.startsWith('forwarded:'));
    t.same(await forwarded({ chain: ['192.0.2.7'], proto: 'https', host: 'nb.job.example' }), ['forwarded: for=192.0.2.7;host="nb.job.example";proto=https']);
    t.same(await forwarded({ chain: ['203.0.113.1', '2001:db8::1', '192.0.2.7'], proto: 'http', host: 'nb.job.example:8443' }), [
      'forwarded: for=203.0.113.1, for="[2001:db8::1]", for=192.0.2.7;host="nb.job.example:8443";proto=http',
    ]);
    t.same(
      await forwarded({ chain: ['192.0.2.7'], proto: 'https', host: 'a"b\\c.example' }),
      ['forwarded: for=192.0.2.7;host="abc.example";proto=https'],
      'quotes and backslashes dropped from the host',
    );
    t.same(await forwarded({ chain: ['192.0.2.7'], proto: 'https', host: 'a"b.example' }), ['forwarded: for=192.0.2.7;host="ab.example";proto=https']);
    t.same(await forwarded({ chain: ['192.0.2.7'], proto: 'https', host: 'a\\b.example' }), ['forwarded: for=192.0.2.7;host="ab.example";proto=https']);
  });

  t.test('a Set-Cookie sent by the client (Node keeps it as a list): each value that holds a token is dropped', async (t) => {
    // The oracle drops the whole list when one value holds a token (it never meets a list otherwise).
    const out = await upstreamOf(
      [
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', `b=${TOKEN_SHAPED}`],
        ['Set-Cookie', 'c=3'],
      ],
      undefined,
      opts,
      false,
    );
    t.same(
      out.filter((line) => line.startsWith('set-cookie:')),
      ['set-cookie: a=1', 'set-cookie: c=3'],
    );
  });

  t.test("a request without Host (HTTP/1.0) gets the upstream's", async (t) => {
    const out = await upstreamOf([['Accept', '*/*']], 'GET /p HTTP/1.0\r\n');
    t.same(
      out.filter((line) => line.startsWith('host:')),
      ['host: upstream.internal:8080'],
    );
    const info = await handled(requestWith([], 'GET /p HTTP/1.0\r\n'), (req) => forwardedInfo(req, 0, 'http'));
    t.equal(info.host, '', 'and forwardedInfo reads no host');
  });

  t.test("the job's own Authorization: only Basic is read as base64", async (t) => {
    const hidden = Buffer.from(`x:${TOKEN_SHAPED}`).toString('base64');
    const authorization = async (value: string) => (await upstreamOf([['Authorization', value]])).filter((line) => line.startsWith('authorization:'));
    t.same(await authorization(`Basic ${hidden}`), [], 'Basic with a token as password: dropped');
    t.same(await authorization(`BASIC  ${hidden}`), [], 'any case, more spaces');
    t.same(await authorization(`Token ${hidden}`), [`authorization: Token ${hidden}`], 'another scheme: passed as sent');
    t.same(await authorization(`Basic_${hidden}`), [`authorization: Basic_${hidden}`], '"Basic" without its space is another scheme');
  });
});
