// What the benchmark prints and writes: the console table, the SVG chart (hand-written, no
// chart library) and docs/benchmarks.md (machine, table, targets, chart, start-up and memory,
// history, how to run, raw JSON).
import { existsSync, readFileSync } from 'node:fs';

const mb = (bytes) => (bytes === undefined ? '—' : `${(bytes / 1e6).toFixed(0)} MB`);
const mb1 = (bytes) => (bytes === undefined ? '—' : `${(bytes / 1e6).toFixed(1)} MB`);
const kb = (bytes) => (bytes === undefined ? '—' : `${(bytes / 1e3).toFixed(1)} KB`);
const ms = (value) => (value === undefined ? '—' : `${value.toFixed(0)} ms`);
const fixed = (value, digits) => (value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits));
const ratio = (value) => (value === undefined || Number.isNaN(value) ? '—' : `${value.toFixed(2)}x`);
const thousands = (value) => Math.round(value).toLocaleString('en-US');
const share = (part, whole) => (part === undefined || !whole ? '—' : `${((part / whole) * 100).toFixed(0)} %`);

/** The targets of the start-up and memory figures, as the targets table states them. */
const CLI_TARGETS = { help: '<= 2.5x', 'token-get': '<= 3.5x', 'job-list': '<= 3.5x' };

/** What each jobgate instance of the peak RSS figure is. */
const INSTANCES = {
  valid: 'valid token, warm cache (10-token registry)',
  invalid: 'invalid token (401)',
  cold: 'fresh token per request (cold path)',
  largeRegistry: 'valid token, warm cache (large registry)',
  decision: 'decision endpoint behind nginx (JOBGATE_AUTHZ_LISTEN)',
  sidecar: 'sidecar mode, idle (largest of its starts)',
};

/** CLI latency rows: [command, median, vs node -e 0, range, target]; `code` puts commands in backquotes. */
function cliRows(cli, code = true) {
  return cli.commands.map((c, i) => [
    code ? `\`${c.label}\`` : c.label,
    ms(c.medianMs),
    i === 0 ? '1.00x' : ratio(c.ratio),
    `${c.minMs.toFixed(0)}-${c.maxMs.toFixed(0)} ms`,
    CLI_TARGETS[c.id] ?? '—',
  ]);
}

/** Sidecar rows: [figure, jobgate sidecar, node, target]. */
function sidecarRows(sidecar) {
  return [
    ['start: spawn to /readyz 200 (node: spawn to exit of `node -e 0`)', ms(sidecar.readyMs), ms(sidecar.nodeMs), '<= 250 ms'],
    [`idle RSS ${sidecar.idleSeconds} s after ready (node: an empty script kept alive)`, mb1(sidecar.idleRssBytes), mb1(sidecar.nodeIdleRssBytes), '<= 60 MB'],
    ...(sidecar.settledRssBytes === undefined
      ? []
      : [
          [
            `idle RSS ${sidecar.settleSeconds} s after ready, after V8's idle-time GC`,
            mb1(sidecar.settledRssBytes),
            mb1(sidecar.nodeSettledRssBytes),
            '<= 60 MB',
          ],
        ]),
  ];
}

/** Where the idle RSS is (smaps): [kind, jobgate, share, node, share]. */
function breakdownRows(sidecar) {
  const jobgate = sidecar.breakdown ?? {};
  const node = sidecar.nodeBreakdown ?? {};
  return [
    ['the node binary, pages read from its file (shared by every node process on the host)', 'nodeBinary'],
    ['other files (shared libraries)', 'otherFiles'],
    ['anonymous (V8 heap, stacks, malloc, written copies of file pages)', 'anonymous'],
    ['total', 'total'],
  ].map(([label, key]) => [label, mb1(jobgate[key]), share(jobgate[key], jobgate.total), mb1(node[key]), share(node[key], node.total)]);
}

/** WebSocket memory rows: [figure, value]. */
function websocketRows(ws) {
  return [
    [
      'WebSockets open through one jobgate, idle',
      `${thousands(ws.connections)}${ws.connections < ws.requested ? ` (of ${thousands(ws.requested)} asked for)` : ''}`,
    ],
    [`jobgate RSS after a warm-up of ${ws.warmup} (closed again)`, mb1(ws.rssBeforeBytes)],
    [`jobgate RSS with them open, ${ws.idleSeconds} s idle`, mb1(ws.rssAfterBytes)],
    ['RSS growth per WebSocket (the figure of the target)', kb(ws.perConnectionBytes)],
    [
      `the second half alone: growth from ${thousands(Math.floor(ws.connections / 2))} open (${mb1(ws.rssHalfBytes)}) to all, per WebSocket`,
      kb(ws.secondHalfPerConnectionBytes),
    ],
    [
      'open files of jobgate, before and with them open (its limit)',
      `${ws.fdsBefore === undefined ? '—' : thousands(ws.fdsBefore)} → ${ws.fdsAfter === undefined ? '—' : thousands(ws.fdsAfter)} (${ws.fdLimit === undefined ? '—' : thousands(ws.fdLimit)})`,
    ],
    ['time to open them (100 at a time, each echoing one message)', `${ws.openSeconds.toFixed(1)} s`],
    ['peak RSS of this jobgate', mb1(ws.peakRssBytes)],
  ];
}

/** Plain-text table for the console: the first column left-aligned, the others right-aligned. */
function textTable(header, body) {
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => String(row[i]).length)));
  const line = (row) => row.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
}

/** The start-up and memory figures for the console. */
function startupConsole(results) {
  const out = [];
  if (results.cli) out.push('', ...textTable(['CLI (median)', 'ms', 'vs node -e 0', 'range', 'target'], cliRows(results.cli, false)));
  if (results.sidecar) {
    out.push('', ...textTable(['sidecar (median of starts)', 'jobgate', 'node', 'target'], sidecarRows(results.sidecar)));
    out.push('', ...textTable(['idle RSS by kind (/proc/PID/smaps)', 'jobgate', '', 'idle node', ''], breakdownRows(results.sidecar)));
  }
  if (results.websockets) out.push('', ...textTable(['idle WebSockets', ''], websocketRows(results.websockets)));
  const peaks = Object.entries(results.jobgatePeakRssBytes ?? {});
  if (peaks.length > 0) out.push('', `jobgate peak RSS per instance: ${peaks.map(([name, bytes]) => `${name} ${mb(bytes)}`).join(', ')}`);
  for (const [id, message] of Object.entries(results.failures ?? {})) out.push('', `FAILED: ${id}: ${message}`);
  return out;
}

/** Rows of the results table: [case, req/s, p50, p99, x bare req/s, x bare p99, CPU/request, peak RSS]. */
function rows(results) {
  return results.cases.map((c) =>
    c.skipped
      ? [c.label, `skipped (${c.skipped})`, '', '', '', '', '', '']
      : [
          c.label,
          thousands(c.rps),
          fixed(c.p50Ms, 2),
          fixed(c.p99Ms, 2),
          ratio(c.ratioRps),
          ratio(c.ratioP99),
          fixed(c.cpuUsPerRequest, 0),
          mb(c.peakRssBytes),
        ],
  );
}

const HEADER = ['case', 'req/s', 'p50 ms', 'p99 ms', 'req/s vs bare', 'p99 vs bare', 'CPU µs/req', 'peak RSS'];

export function consoleTable(results) {
  const out = results.cases.length > 0 ? textTable(HEADER, rows(results)) : [];
  out.push(...startupConsole(results));
  out.push('');
  for (const t of results.targets) out.push(`${t.met === undefined ? '  n/a ' : t.met ? '  met ' : ' MISSED'}  ${t.name}: ${t.measured} (target ${t.target})`);
  return out.join('\n');
}

/** A Markdown table; a column whose cells all look like figures is aligned right. */
function markdownTable(header, body) {
  const escape = (cell) => String(cell).replaceAll('|', '\\|');
  const figure = /^(|—|[-+]?[\d,.]+( ?(%|x|MB|ms))?|[<>]=.*|within .*|met|n\/a|\*\*missed\*\*|not measured)$/;
  const align = header.map((_, i) => (i > 0 && body.every((row) => figure.test(String(row[i] ?? ''))) ? '---:' : '---'));
  return [`| ${header.map(escape).join(' | ')} |`, `| ${align.join(' | ')} |`, ...body.map((row) => `| ${row.map(escape).join(' | ')} |`)].join('\n');
}

const xml = (text) => String(text).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** A horizontal bar chart of requests/s, one bar per case, labelled with the ratio to the bare proxy. */
export function svgChart(results) {
  const cases = results.cases.filter((c) => !c.skipped);
  const labelWidth = 330;
  const barWidth = 330;
  const valueWidth = 170;
  const rowHeight = 26;
  const top = 44;
  const width = labelWidth + barWidth + valueWidth;
  const height = top + cases.length * rowHeight + 30;
  const max = Math.max(...cases.map((c) => c.rps), 1);
  const color = (c) => (c.group === 'baseline' ? '#9aa0a6' : c.group === 'jobgate' ? '#1a73e8' : '#f29900');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">requests/s (median of ${results.settings.rounds} round${results.settings.rounds === 1 ? '' : 's'}, ${results.settings.connections} connections, ${xml(results.tools.loadGenerator?.name ?? 'no load generator')})</text>`,
    `<text x="8" y="34" fill="#5f6368">ratio = req/s / bare http-proxy-3 pass-through; ${xml(results.machine.summary)}</text>`,
  ];
  cases.forEach((c, i) => {
    const y = top + i * rowHeight;
    const w = Math.max(1, (c.rps / max) * barWidth);
    parts.push(`<text x="${labelWidth - 8}" y="${y + 16}" text-anchor="end">${xml(c.short)}</text>`);
    parts.push(`<rect x="${labelWidth}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowHeight - 8}" fill="${color(c)}"/>`);
    parts.push(`<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 16}">${thousands(c.rps)} (${ratio(c.ratioRps)})</text>`);
  });
  const legendY = top + cases.length * rowHeight + 18;
  [
    ['#9aa0a6', 'no auth: baselines'],
    ['#f29900', 'other proxies'],
    ['#1a73e8', 'jobgate'],
  ].forEach(([fill, text], i) => {
    parts.push(`<rect x="${labelWidth + i * 150}" y="${legendY - 10}" width="10" height="10" fill="${fill}"/>`);
    parts.push(`<text x="${labelWidth + i * 150 + 14}" y="${legendY}">${text}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function profileSection(profilePath) {
  if (!existsSync(profilePath)) return ['No CPU profile recorded yet: run `node bench/profile.mjs`.'];
  const profile = JSON.parse(readFileSync(profilePath, 'utf8'));
  const us = (entry) => (entry.usPerRequest === undefined ? '—' : entry.usPerRequest.toFixed(1));
  const pct = (entry) => `${(entry.share * 100).toFixed(1)} %`;
  const out = [
    `\`node bench/profile.mjs\`, ${profile.generatedAt.slice(0, 10)}: jobgate under \`node --cpu-prof\`, ${profile.seconds} s of ${profile.loadGenerator} load on the warm path (valid token, cached), ${profile.connections} connections: ${thousands(profile.rps)} req/s under the profiler, ${thousands(profile.totalSamples)} samples in the load window, ${(profile.idleShare * 100).toFixed(1)} % idle, about ${profile.busyUsPerRequest.toFixed(0)} µs of main-thread CPU per request${profile.bare ? ` (the bare http-proxy-3 pass-through, profiled right after in the same way: ${thousands(profile.bare.rps)} req/s, ${profile.bare.busyUsPerRequest.toFixed(0)} µs)` : ''}. The profiler slows both down; compare shares and differences, not absolute figures. Top ${profile.top.length} by self time (idle excluded; share of all samples):`,
    '',
    markdownTable(
      ['function', 'where', 'self %', 'µs/req'],
      profile.top.map((entry) => [entry.functionName, entry.where, pct(entry), us(entry)]),
    ),
    '',
    "jobgate's own functions by total (inclusive) time, i.e. with what they call (an `await` splits a",
    'function: what runs after it is not under its caller any more):',
    '',
    markdownTable(
      ['function', 'where', 'total %', 'µs/req'],
      (profile.topOwnTotal ?? []).map((entry) => [entry.functionName, entry.where, pct(entry), us(entry)]),
    ),
    '',
  ];
  if (profile.bare) {
    const bare = new Map(profile.bare.byArea.map((entry) => [entry.area, entry.usPerRequest]));
    out.push(
      'Main-thread CPU per request by area, jobgate against the bare pass-through:',
      '',
      markdownTable(
        ['area', 'jobgate µs/req', 'bare µs/req', 'difference'],
        profile.byArea
          .slice(0, 16)
          .map((entry) => [entry.area, us(entry), (bare.get(entry.area) ?? 0).toFixed(1), (entry.usPerRequest - (bare.get(entry.area) ?? 0)).toFixed(1)]),
      ),
      '',
    );
  } else {
    out.push(
      'Self time by package or area:',
      '',
      markdownTable(
        ['area', 'self %'],
        profile.byArea.slice(0, 12).map((entry) => [entry.area, pct(entry)]),
      ),
      '',
    );
  }
  out.push(
    '`writeLatin1String`, `writev` and `writeString` are socket and file writes (a string of headers,',
    'headers and body together, the access log line); `(native / V8 builtins)` is the rest of the C++',
    'side. The profiler samples wall-clock time, so a write that wakes the upstream or wrk on this',
    '2-core machine also carries the time the proxy then waits for a core. The whole profiles are in',
    'bench/results/jobgate-warm.cpuprofile and bare.cpuprofile (not committed; open them in Chrome',
    'DevTools or speedscope).',
  );
  return out;
}

/**
 * What was changed on the hot path, and what each step measured. Written by hand (it is
 * history, not a measurement of this run); the figures are CPU µs per request of the jobgate
 * process under 32 wrk connections, medians of interleaved runs beside the bare pass-through.
 */
const HOT_PATH_HISTORY = [
  '## How the hot path got here',
  '',
  'A first version (in-process cache, pino access line, http-proxy-3 with per-request options)',
  'ran at 0.45x-0.55x the bare pass-through, about 250-380 µs of CPU per request against 105-160',
  'for the bare proxy. Profiles (`node bench/profile.mjs`, and `--cpu-prof-interval 50` for the',
  '401 path) and A/B runs then took out, in order:',
  '',
  markdownTable(
    ['step', 'why it cost', 'effect (same-run medians)'],
    [
      [
        'forward on node:http with the upstream headers as one flat list',
        'http-proxy-3 merges its options, parses the target and the request URL and sets the headers one by one on every request; `headers` as an array goes to the socket as it is',
        'valid token: 0.45x → 0.70x the bare pass-through',
      ],
      [
        'access line from a template, not through pino',
        'pino serialises a generic object (and jobgate used a second, redaction-free instance for it); the line has fixed fields that jobgate names itself',
        'with the next step; log level `warn` (no access line at all) was worth 10 µs/req before',
      ],
      [
        'forward with undici (one keep-alive pool per upstream origin)',
        "node:http's client builds a ClientRequest, an agent lookup and several event listeners per request; undici's dispatcher keeps a small per-request handler",
        'a minimal pass-through on undici: 56-79 µs/req against 80-124 on node:http and 148-181 for http-proxy-3; jobgate: 0.70x → 1.0x-1.45x the bare pass-through',
      ],
      [
        'decide without a promise when the cache knows the records',
        'route, token lookup and header building were async functions: a promise and a microtask hop each, about ten per request',
        'together with the next step: 401 path 59-85 → 43 µs/req',
      ],
      [
        'request metrics as plain counters read on scrape',
        'prom-client hashes the label set on every increment and observation, even on a pre-bound child',
        '',
      ],
      [
        'access lines of one event-loop turn in one write',
        "each write to the log stream measures the line's byte length and may start an asynchronous write",
        '2.3 → 1.2 µs per line in isolation',
      ],
      [
        'refuse an id the cache knows to be absent before hashing',
        'a deleted token presented again was hashed (checksum, then digest) before the negative cache answered',
        '401 vs accepted: 1.72x → 2.1x-2.3x (each µs off a short path counts about 1.5 times here: a busier process wakes its peers less often)',
      ],
      [
        'less memory per cached token',
        'each cached token held a 32-byte Buffer (about 250 bytes with its backing store), a key string per assertion, its own parsed selector, and a slice of the Authorization header that kept the whole header alive',
        'live heap of the cold-path instance after a full GC: 42.5 → 35 MB; digests are compared as the stored hex, in constant time',
      ],
      [
        'scan-resistant caches (2Q with a Bloom doorkeeper)',
        'a token seen once went straight into the 10,000-entry LRUs and died there seconds later, in the old generation',
        'cold-path instance: 169-221 → 141-154 MB peak with the same V8 settings; hot tokens survive a flood of one-off ones',
      ],
      [
        "young generation of 2 x 8 MB (`--max-semi-space-size=8`, the image's NODE_OPTIONS)",
        'V8 grows it to 2 x 16 MB under load on a large host',
        'no throughput loss measured; 5-25 MB less at peak',
      ],
      [
        'answers (401 and the like) in one write',
        'a Buffer body made Node cork the socket and send the head and the body with writev',
        '401 path 96-106 → 91-94 µs/req; 401 vs accepted (pairs) 2.05x → 2.23x in a same-run A/B',
      ],
    ],
  ),
  '',
  'What is left on the warm path is mostly Node itself: the two socket writes (to the upstream, to',
  'the client) and their wake-ups, which on this VM cost 20-30 µs each, HTTP parsing on both sides,',
  'and one SHA-256 of the presented token. The 401 path answers with one write of a prepared body and',
  'headers. See the profile below.',
  '',
  'Peak RSS was held to 150 MB until the start-up issue set 96 MB. Under this load no instance',
  'meets 96 MB, and neither does the minimal undici pass-through (its row above): each peaks as',
  'the load begins (some 30 MB of socket buffers, parsers and young objects for 32 new connections',
  'on both sides) and then as V8 lets old garbage grow to about four times the live heap before a',
  "full collection. V8's heap growing factor (`--heap-growing-percent=30`) takes a third off the cold path's",
  'peak (174 to 115 MB in one A/B) and costs it a fifth more CPU per request (238 to 287 µs),',
  'so it is not set. The p99 and the',
  "401/accepted targets sit close to this machine's noise: in one run the two warm instances, which",
  'run the same code and differ only by their Redis, had round p99s of 8.7 and 15.5 ms, and the',
  '401/accepted pairs of the latest run range from 1.89x to 2.26x. Hence the back-to-back pairs.',
  'The stretch goal is not reached here: jobgate inline runs at 0.7x-1.1x of nginx + auth_request',
  'across runs and machines.',
];

/** docs/benchmarks.md's sections on start-up, idle memory and peak memory (those this run measured). */
function startupSections(results) {
  const out = [];
  const { cli, sidecar, websockets: ws } = results;
  const failed = results.failures ?? {};
  if (cli || sidecar || ws || Object.keys(results.jobgatePeakRssBytes ?? {}).length > 0 || Object.keys(failed).length > 0) {
    out.push(
      '## Start-up and memory',
      '',
      'jobgate runs beside every job as a sidecar and in admin scripts that call the CLI in loops, so',
      'what it costs to start and to sit idle matters as much as throughput. Times are ratios to `node -e 0`',
      'measured in the same run, interleaved, since this machine is shared; MB = 10^6 bytes, KB = 10^3 bytes.',
      '',
    );
  }
  for (const [id, message] of Object.entries(failed)) out.push(`**${id} failed in this run**: ${message}`, '');
  if (cli) {
    out.push(
      '### CLI latency',
      '',
      `\`node bin/jobgate.js <command>\` as \`npx jobgate\` runs it, with the jobgate instances' NODE_OPTIONS, against the 10-token registry (its bench job and tokens); each command ${cli.runs} times after one unmeasured run, the order rotated each time, interleaved with \`node -e 0\`. Time from spawn to exit; medians.`,
      '',
      markdownTable(['command', 'median', 'vs `node -e 0`', 'range', 'target'], cliRows(cli)),
      '',
    );
  }
  if (sidecar) {
    out.push(
      '### Sidecar start and idle memory',
      '',
      `\`node bin/jobgate.js serve\` in sidecar mode (\`JOBGATE_SIDECAR_JOB=bench\`, \`JOBGATE_SIDECAR_UPSTREAM\` the upstream) against the 10-token registry, where the job is registered, started ${sidecar.starts} times one after the other. Ready is the first 200 from \`/readyz\` on the admin listener (Redis connected, the invalidation subscription live, the job found), polled every 2 ms from the spawn; each start is preceded by a timed \`node -e 0\`. Idle RSS is VmRSS ${sidecar.idleSeconds} s after ready, beside an empty \`node\` script kept alive for the same time. Medians of the starts; each start then answers one request with a valid token (200) before it stops.`,
      '',
      markdownTable(['figure', 'jobgate sidecar', 'node', 'target'], sidecarRows(sidecar)),
      '',
      "Where the idle RSS is, from /proc/PID/smaps (the start whose RSS is the median): the node binary's pages come from its file and are shared by every node process of the host, so in a fleet of sidecars on one node each pays mostly for its anonymous memory.",
      '',
      markdownTable(['kind', 'jobgate', 'share', 'idle node', 'share'], breakdownRows(sidecar)),
      '',
    );
  }
  const peaks = Object.entries(results.jobgatePeakRssBytes ?? {});
  if (peaks.length > 0) {
    out.push(
      '### Peak RSS per instance',
      '',
      'VmHWM of each jobgate process at the end of its part of the run (target: at most 96 MB each). The WebSocket instance below is not counted: it holds thousands of connections by design.',
      '',
      markdownTable(
        ['jobgate instance', 'peak RSS'],
        peaks.map(([name, bytes]) => [INSTANCES[name] ?? name, mb(bytes)]),
      ),
      '',
    );
  }
  if (ws) {
    out.push(
      '### Memory per idle WebSocket',
      '',
      `One jobgate instance (gateway mode, its own registry whose bench job is an echo server on the \`ws\` package, bench/servers/ws-upstream.mjs) and a client process (bench/servers/ws-clients.mjs) that opens WebSockets through it with a valid token, each echoing one message, then leaves them idle. The figure is jobgate's RSS growth divided by the number open, ${ws.idleSeconds} s after the last opened, over its RSS after a warm-up of ${ws.warmup} connections opened and closed again. jobgate holds two sockets per WebSocket (to the client and to the upstream), so its open-file limit bounds how many one instance can hold${ws.note ? `: here ${ws.note}` : ''}.`,
      '',
      markdownTable(['figure', 'value'], websocketRows(ws)),
      '',
      ...(ws.connections < 2000
        ? [
            `With only ${thousands(ws.connections)} WebSockets, what jobgate allocates once under the first handshakes (its young generation growing to its full size) outweighs them: the figure means something at thousands, as in the full run.`,
            '',
          ]
        : []),
    );
  }
  return out;
}

const HISTORY_BEGIN = '<!-- history: one row per full run, newest last; bench/lib/report.mjs keeps the rows between these two lines -->';
const HISTORY_END = '<!-- end of history -->';
const HISTORY_HEADER = [
  'date',
  'commit',
  'mode',
  'req/s vs bare',
  'p99 vs bare',
  'req/s vs undici',
  'p99 vs undici',
  '401 vs accepted',
  'peak RSS (largest instance)',
  'CLI vs node -e 0: --help / token get / job list',
  'sidecar ready',
  'sidecar idle RSS',
  'per idle WebSocket',
];

/** One row of the history table: the headline figures of a run (of this format or an older one). */
export function historyRow(results) {
  const pair = (key, field) => ratio(results.paired?.[key]?.[field]);
  const peaks = Object.values(results.jobgatePeakRssBytes ?? {}).filter((v) => v !== undefined);
  const cli = results.cli?.commands;
  const cliRatio = (id) => ratio(cli?.find((c) => c.id === id)?.ratio);
  return [
    `${results.generatedAt.slice(0, 16).replace('T', ' ')} UTC`,
    results.commit ?? '—',
    results.mode,
    pair('jg-valid/bare', 'median'),
    pair('jg-valid/bare', 'p99Median'),
    pair('jg-valid/undici', 'median'),
    pair('jg-valid/undici', 'p99Median'),
    pair('jg-invalid/jg-valid', 'median'),
    peaks.length > 0 ? mb(Math.max(...peaks)) : '—',
    cli ? `${cliRatio('help')} / ${cliRatio('token-get')} / ${cliRatio('job-list')}` : '—',
    ms(results.sidecar?.readyMs),
    mb1(results.sidecar?.idleRssBytes),
    kb(results.websockets?.perConnectionBytes),
  ];
}

const tableLine = (row) => `| ${row.map((cell) => String(cell).replaceAll('|', '\\|')).join(' | ')} |`;

/**
 * The history rows of the page this run replaces: the rows between the markers, or, on a page
 * from before the history, one row made from its raw results.
 */
function previousHistory(previous) {
  if (!previous) return [];
  const begin = previous.indexOf(HISTORY_BEGIN);
  const end = previous.indexOf(HISTORY_END);
  if (begin >= 0 && end > begin) {
    const lines = previous
      .slice(begin + HISTORY_BEGIN.length, end)
      .trim()
      .split('\n');
    // Past the header and its separator.
    return lines.slice(2).filter((line) => line.startsWith('|'));
  }
  const raw = /<summary>Raw results[^\n]*<\/summary>\s*```json\n([\s\S]*?)\n```/.exec(previous);
  if (!raw) return [];
  try {
    return [tableLine(historyRow(JSON.parse(raw[1])))];
  } catch {
    return [];
  }
}

/** The fleet section's markers: bench/fleet.mjs writes between them, a full run here keeps what is there. */
export const FLEET_BEGIN = '<!-- fleet:begin (written by bench/fleet.mjs) -->';
export const FLEET_END = '<!-- fleet:end -->';

/** The fleet section of the page this run replaces, markers included (none before issue 22). */
function previousFleet(previous) {
  const begin = previous?.indexOf(FLEET_BEGIN) ?? -1;
  const end = previous?.indexOf(FLEET_END) ?? -1;
  return begin >= 0 && end > begin ? [previous.slice(begin, end + FLEET_END.length), ''] : [];
}

function historySection(results, previous) {
  // A page rendered again from the same results (bench/profile.mjs does) keeps one row for the run.
  const row = tableLine(historyRow(results));
  const rows = [...previousHistory(previous).filter((line) => line.split(' | ')[0] !== row.split(' | ')[0]), row];
  return [
    '## History',
    '',
    'The headline figures of every full run, newest last (ratios are medians of back-to-back pairs;',
    'the commit is the checkout\'s, "(modified)" when src/, bin/ or the build differed from it).',
    ...(results.mode === 'full' ? [] : [`The last row is this ${results.mode} run, shown here only: docs/benchmarks.md keeps full runs.`]),
    '',
    HISTORY_BEGIN,
    tableLine(HISTORY_HEADER),
    tableLine(HISTORY_HEADER.map(() => '---')),
    ...rows,
    HISTORY_END,
  ];
}

/**
 * The whole of docs/benchmarks.md. `previous` is the page this run replaces (its history is kept).
 */
export function markdown(results, { svg, profilePath, previous }) {
  const m = results.machine;
  const t = results.tools;
  const s = results.settings;
  const lines = [
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench` (bench/run.mjs); edits here are overwritten. -->',
    '',
    'What a request costs in jobgate, measured against the upstream alone, the floor cost of proxying in',
    "Node (a bare http-proxy-3 pass-through and a minimal undici one), JupyterHub's configurable-http-proxy",
    'and nginx with `auth_request`, all side by side on one machine; and what jobgate costs to start',
    '(the CLI, a sidecar) and to hold (idle, peak, per WebSocket). A benchmark is not a test: nothing',
    'here is asserted by the tap suite.',
    '',
    `## Latest run (${results.mode === 'quick' ? 'quick mode: figures only prove the harness works' : 'full mode'})`,
    '',
    `- date: ${results.generatedAt}`,
    `- machine: ${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB memory, ${m.os}, Node ${m.node}`,
    t.loadGenerator
      ? `- load: ${t.loadGenerator.name} ${t.loadGenerator.version}${t.loadGenerator.name === 'wrk' ? ' (1 thread)' : ' (in-process)'}, ${s.connections} keep-alive connections, ${s.rounds} round${s.rounds === 1 ? '' : 's'} of ${s.seconds} s per case after a ${s.warmupSeconds} s warm-up, case order rotated every round and reversed every other round, 1 s pause between bursts; figures are medians over rounds`
      : '- load: none (no throughput case in this run)',
    `- software: redis-server ${t.redis}, http-proxy-3 ${t.httpProxy3}, configurable-http-proxy ${t.chp}, nginx ${t.nginx ?? 'not installed'}${t.undici ? `; jobgate forwards with undici ${t.undici}` : ''}; jobgate runs with ${t.jobgateNodeOptions ? `NODE_OPTIONS=${t.jobgateNodeOptions} (as its Dockerfile sets)` : "Node's default heap settings"}`,
    `- registries: small ${thousands(results.registries.small.tokens)} tokens / ${thousands(results.registries.small.jobs)} job${results.registries.large ? `; large ${thousands(results.registries.large.tokens)} tokens / ${thousands(results.registries.large.jobs)} jobs (Redis used memory ${mb(results.registries.large.redisUsedMemoryBytes)}; seeded in ${results.registries.seedSeconds.toFixed(1)} s)` : ''}`,
    ...(results.commit ? [`- commit: ${results.commit}`] : []),
    '',
    markdownTable(HEADER, rows(results)),
    '',
    'p50/p99 are per-request latencies as the load generator saw them; "vs bare" divides by the bare',
    'http-proxy-3 pass-through of the same run. CPU µs/req is the CPU time (user + system, all threads,',
    "from /proc) that the case's own processes used during a burst, divided by its requests: the work",
    'per request, which the noise of a shared machine disturbs far less than req/s (nginx: master,',
    'worker and auth service; the upstream and Redis are not counted, except in "upstream alone").',
    'Peak RSS is VmHWM at the end of the run of the one process that serves the case (— for nginx).',
    '',
    '### Targets (within this run)',
    '',
    markdownTable(
      ['target', 'measured', 'wanted', ''],
      results.targets.map((x) => [x.name, x.measured, x.target, x.met === undefined ? 'n/a' : x.met ? 'met' : '**missed**']),
    ),
    '',
    'After the rounds, the compared cases run again as back-to-back pairs of short bursts (A then B,',
    'then B then A), and those targets take the median of the per-pair ratios; the ratio of the',
    "rounds' medians is shown beside it. Bursts a minute apart see different machines here: in one",
    'run, two jobgate instances running the same code had round p99s of 8.7 and 15.5 ms.',
    '',
    '### Requests/s',
    '',
    svg,
    '',
    'The same chart as a file, for viewers that strip inline SVG: [bench/results/latest.svg](../bench/results/latest.svg).',
    '',
    ...startupSections(results),
    '## The cases',
    '',
    'Every server is its own process listening on 127.0.0.1, started once; the cases then run in',
    'alternating rounds, so that noise from the rest of the machine hits them all alike. All requests',
    '(`GET /`, `Host: bench.job.test`, a bearer token) end at the same upstream.',
    '',
    markdownTable(
      ['case', 'what runs'],
      results.cases.map((c) => [c.label, c.description]),
    ),
    '',
    "Each jobgate case has its own jobgate process, so that no case inherits another's caches, heap",
    'or failure counters: the two warm cases differ only by the Redis behind them.',
    "jobgate runs with its defaults and its image's `NODE_OPTIONS` (log level `info`: one access line per request, written to",
    '/dev/null here; cache 10,000 entries per kind, 5 s TTL) except `JOBGATE_AUTH_FAILURE_LIMIT=1000000`,',
    'since every 401 of the invalid-token case counts as a failure of 127.0.0.1 and would turn into',
    '429 at the default limit of 60 per minute. After every burst one more request checks that the',
    'case still answers what it should (200, or 401 for the invalid token).',
    '',
    ...HOT_PATH_HISTORY,
    '',
    '## CPU profile of the warm path',
    '',
    ...profileSection(profilePath),
    '',
    ...previousFleet(previous),
    ...historySection(results, previous),
    '',
    '## How to run',
    '',
    '```sh',
    'npm run bench                    # builds, then the full run (a few minutes): rewrites this page',
    '                                 # and bench/results/latest.json + latest.svg',
    'npm run bench -- --quick         # every case once for 2 s, 10,000 tokens / 1,000 jobs in the large',
    '                                 # registry, 3 runs of each CLI command, 3 sidecar starts, 200',
    '                                 # WebSockets: proves the harness works (what CI may call); writes',
    '                                 # bench/results/quick.{json,md,svg} and leaves this page alone',
    'npm run bench -- --rounds 3 --duration 5 --connections 64 --load autocannon',
    'npm run bench -- --only bare,jg-valid,jg-1m   # some cases; writes bench/results/partial.*',
    'npm run bench -- --only cli,sidecar,websocket # start-up and memory alone (no load, no large registry)',
    'npm run bench -- --only websocket --websockets 2000   # fewer WebSockets (full: 10,000)',
    'node bench/profile.mjs           # CPU profiles (node --cpu-prof) of jobgate on the warm path and of the',
    '                                 # bare pass-through: refreshes the profile section of this page',
    'npm run bench -- --fleet         # the fleet harness (bench/fleet.mjs): 100, 1,000 and 5,000 sidecars on',
    '                                 # one Redis and on a 3-master Cluster; refreshes the fleet section',
    '```',
    '',
    'It needs `redis-server` and `redis-cli` (`apt-get install redis-server`). Load comes from',
    '[wrk](https://github.com/wg/wrk) when it is installed (`apt-get install wrk`): a C program, so',
    "the load generator takes less of a small machine's CPU than a Node one. Without wrk, the",
    'harness falls back to autocannon (a devDependency, installed by `npm install`) and says so.',
    '',
    'The nginx case runs when `nginx` is on the PATH or in /usr/sbin (`apt-get install nginx-light`,',
    "or any nginx built with `--with-http_auth_request_module`, which Debian's packages are); otherwise",
    'it is reported as skipped. The harness writes its own nginx.conf into a temporary directory and',
    'runs `nginx -p <dir> -c nginx.conf -g "daemon off;"`: one worker process, keep-alive to the',
    'upstream and to the auth service, access log off. `.ci/run` installs nginx (the forward-auth tests use',
    'it) but not wrk, and runs `npm run bench -- --quick` with autocannon to prove the harness works.',
    '',
    'The WebSocket part needs two open files in jobgate per WebSocket: with `ulimit -n` below about',
    'twice the count asked for, the harness raises the soft limit up to the hard one (with `prlimit`,',
    'which needs no privilege for that), and otherwise holds as many as fit and says so.',
    '',
    '<details><summary>Raw results (bench/results/latest.json)</summary>',
    '',
    '```json',
    JSON.stringify(results, null, 2),
    '```',
    '',
    '</details>',
    '',
  ];
  return lines.join('\n');
}
