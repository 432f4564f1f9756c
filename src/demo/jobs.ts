import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { acceptEchoSocket } from './websocket.js';
import { escapeHtml } from '../util/html.js';

/** The text the notebook page greets with (the demo's test looks for it). */
export const NOTEBOOK_GREETING = 'Hello from the notebook job';

/** The two sample jobs of `jobgate demo`, each an HTTP server on 127.0.0.1. */
export interface SampleJobs {
  /** http://127.0.0.1:<port>: an HTML page that opens a WebSocket echo on its own host. */
  readonly notebookUrl: string;
  /** http://127.0.0.1:<port>: a JSON API, GET /predict?x=1. */
  readonly modelUrl: string;
  close(): Promise<void>;
}

/** Who jobgate says the caller is (the headers it adds upstream). */
function identity(req: IncomingMessage): { tokenName: string; role: string } {
  const header = (name: string) => {
    const value = req.headers[name];
    return typeof value === 'string' ? value : '';
  };
  let tokenName = header('x-jobgate-token-name');
  // jobgate percent-encodes names that are not plain ASCII (and every name with a '%').
  if (tokenName.includes('%')) {
    try {
      tokenName = decodeURIComponent(tokenName);
    } catch {
      // Shown as received.
    }
  }
  return { tokenName, role: header('x-jobgate-role') };
}

function notebookPage(req: IncomingMessage): string {
  const { tokenName, role } = identity(req);
  const shown = (value: string) => (value ? `<code>${escapeHtml(value)}</code>` : '<em>(none: jobgate did not add it)</em>');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>notebook · jobgate demo</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
th { text-align: left; padding-right: 1rem; font-weight: 600; }
code { background: #f2f2f2; padding: 0 .3em; border-radius: 3px; }
#ws { padding: .5rem .75rem; background: #f7f7f7; border-left: 4px solid #888; }
</style>
</head>
<body>
<h1>${NOTEBOOK_GREETING}</h1>
<p>jobgate checked your token, then passed the request on with who you are:</p>
<table>
<tr><th>X-Jobgate-Token-Name</th><td>${shown(tokenName)}</td></tr>
<tr><th>X-Jobgate-Role</th><td>${shown(role)}</td></tr>
</table>
<h2>WebSocket</h2>
<p id="ws">connecting to ws://this host/echo through jobgate…</p>
<p>Delete or renew the token (<code>jobgate token delete &lt;id&gt;</code>) and jobgate closes this WebSocket at once.</p>
<script>
const out = document.getElementById('ws');
const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/echo');
let sent = 0;
const send = () => socket.send('hello #' + ++sent + ' over a WebSocket');
socket.onopen = () => { send(); setInterval(() => socket.readyState === WebSocket.OPEN && send(), 3000); };
socket.onmessage = (event) => { out.textContent = 'echoed by the job, through jobgate: ' + event.data; };
socket.onclose = (event) => { out.textContent = 'WebSocket closed: code ' + event.code + (event.reason ? ', ' + event.reason : ''); };
</script>
</body>
</html>
`;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}

function notebook(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://notebook').pathname;
  if (path !== '/' || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: the notebook serves / (and a WebSocket echo)\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(notebookPage(req));
}

function model(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://model');
  const caller = identity(req);
  if (req.method !== 'GET') return sendJson(res, 405, { error: 'method_not_allowed', message: 'GET /predict?x=<number>' });
  if (url.pathname === '/') return sendJson(res, 200, { model: 'doubler', endpoints: ['GET /predict?x=<number>'], caller });
  if (url.pathname !== '/predict') return sendJson(res, 404, { error: 'not_found', message: 'GET /predict?x=<number>' });
  const x = Number(url.searchParams.get('x') ?? 'NaN');
  if (!Number.isFinite(x)) return sendJson(res, 400, { error: 'bad_request', message: 'x must be a number: GET /predict?x=1' });
  sendJson(res, 200, { y: 2 * x, x, model: 'doubler', caller });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server, sockets: Set<Duplex>): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeAllConnections();
  for (const socket of sockets) socket.destroy();
  await closed;
}

/** Starts both sample jobs on free loopback ports. */
export async function startSampleJobs(): Promise<SampleJobs> {
  const upgraded = new Set<Duplex>();
  const notebookServer = createServer(notebook);
  notebookServer.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    acceptEchoSocket(req, socket);
  });
  const modelServer = createServer(model);
  const close = async () => {
    await Promise.all([closeServer(notebookServer, upgraded), closeServer(modelServer, new Set())]);
  };
  try {
    const [notebookUrl, modelUrl] = await Promise.all([listen(notebookServer), listen(modelServer)]);
    return { notebookUrl, modelUrl, close };
  } catch (error) {
    await close();
    throw error;
  }
}
