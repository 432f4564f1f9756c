/**
 * The console's HTML building blocks: one escaping helper for every value that reaches a page,
 * times as people read them, and the page layout with its style and script (both under the
 * response's CSP nonce: no inline code without it, nothing external). Pure.
 */

import { escapeHtml } from '../util/html.js';

/** `text` safe in an HTML text node and in a quoted attribute value: every value that reaches a console page. */
export const esc = escapeHtml;

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** "3 days ago", "in 2 hours", "just now": the distance from `now` to `iso`, in its largest whole unit. */
export function relativeTime(iso: string, now: number): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const distance = Math.abs(ms - now);
  for (const [unit, size] of UNITS) {
    const count = Math.floor(distance / size);
    if (count >= 1) {
      const amount = `${count} ${unit}${count === 1 ? '' : 's'}`;
      return ms < now ? `${amount} ago` : `in ${amount}`;
    }
  }
  return 'just now';
}

/** A `<time>` element: relative text, the exact ISO time in `datetime` and on hover (`title`). */
export function timeHtml(iso: string | undefined, now: number, never = 'never'): string {
  if (iso === undefined) return `<span class="muted">${esc(never)}</span>`;
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${esc(relativeTime(iso, now))}</time>`;
}

/** A selector or another literal, in code style; the empty selector reads "every job". */
export function selectorHtml(selector: string): string {
  return selector === '' ? '<span class="muted">(none: every job)</span>' : `<code>${esc(selector)}</code>`;
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f5f6f8;--card:#fff;--text:#1b1f24;--muted:#57606a;--accent:#0b5cad;--accent-text:#fff;--danger:#a40e26;--danger-text:#fff;--error-bg:#fdecea;--error:#8a1c12;--ok-bg:#e6f4ea;--ok:#1a4d2a;--border:#d0d7de}
@media (prefers-color-scheme:dark){:root{--bg:#0f1419;--card:#1a2027;--text:#e6edf3;--muted:#9da7b3;--accent:#4c9be8;--accent-text:#0f1419;--danger:#ff8a80;--danger-text:#0f1419;--error-bg:#3b1512;--error:#ffb4a9;--ok-bg:#13301c;--ok:#a7e3b8;--border:#30363d}}
*{box-sizing:border-box}
[hidden]{display:none !important}
body{margin:0;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{background:var(--card);border-bottom:1px solid var(--border);padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center}
header .brand{font-weight:700;margin-right:auto}
nav ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0}
nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
.who{color:var(--muted);font-size:.9rem}
main{max-width:72rem;margin:0 auto;padding:1rem}
.card{background:var(--card);border:1px solid var(--border);border-radius:12px;padding:1rem 1.25rem;margin:0 0 1rem}
.narrow{max-width:30rem;margin:2rem auto}
h1{font-size:1.4rem;margin:.25rem 0 .75rem}
h2{font-size:1.15rem;margin:0 0 .5rem}
p{margin:.25rem 0 .75rem}
.muted,.hint{color:var(--muted)}
.hint{font-size:.875rem}
code{font:.92em ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
a{color:var(--accent)}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input,select{font:inherit;color:var(--text);background:var(--bg);border:1px solid var(--muted);border-radius:8px;padding:.5rem .6rem;width:100%}
input[readonly]{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.fields{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:0 1rem;align-items:start}
button,.button{display:inline-block;margin-top:.75rem;padding:.55rem 1rem;font:inherit;font-weight:600;color:var(--accent-text);background:var(--accent);border:0;border-radius:8px;cursor:pointer;text-decoration:none}
button.secondary,.button.secondary{color:var(--accent);background:transparent;border:1px solid var(--accent)}
button.danger{color:var(--danger-text);background:var(--danger)}
header button{margin:0;padding:.3rem .7rem}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,.button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.error{background:var(--error-bg);color:var(--error);border-radius:8px;padding:.5rem .75rem;margin:.5rem 0}
.field-error{color:var(--error);font-size:.9rem;margin:.25rem 0 0}
.notice{background:var(--ok-bg);color:var(--ok);border-radius:8px;padding:.5rem .75rem;margin:.5rem 0}
.secret{display:flex;gap:.5rem;align-items:center}
.secret button{margin:0;white-space:nowrap}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{text-align:left;vertical-align:top;padding:.45rem .5rem;border-bottom:1px solid var(--border)}
th a{color:inherit}
td .actions{display:flex;gap:.5rem;flex-wrap:wrap}
td .actions a{font-size:.9rem}
.skip{position:absolute;left:.5rem;top:-3rem;background:var(--card);color:var(--accent);padding:.4rem .75rem;border-radius:8px;z-index:1}
.skip:focus{top:.5rem}
main:focus{outline:none}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
ul.plain{list-style:none;margin:0;padding:0}
.tag{display:inline-block;border:1px solid var(--border);border-radius:6px;padding:0 .35rem;margin:0 .25rem .25rem 0;font-size:.85rem}
@media (max-width:44rem){
table,thead,tbody,tr,th,td{display:block}
caption{display:block}
thead tr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
tr{border:1px solid var(--border);border-radius:8px;margin:0 0 .75rem;padding:.25rem .5rem;background:var(--card)}
td{border:0;padding:.2rem 0}
td[data-label]::before{content:attr(data-label) ": ";font-weight:600;color:var(--muted)}
}
`;

/** Progressive enhancement only: the copy button (hidden without script), and the token filter applied as you type. */
const SCRIPT = `
const filter = document.querySelector('form[data-live-filter]');
if (filter) {
  const rows = [...document.querySelectorAll('tr[data-name]')];
  const status = document.getElementById('filter-status');
  filter.addEventListener('input', () => {
    const name = filter.elements.name.value.trim().toLowerCase();
    const role = filter.elements.role.value;
    const selector = filter.elements.selector.value.trim();
    let shown = 0;
    for (const row of rows) {
      const keep = row.dataset.name.toLowerCase().includes(name) && (role === '' || row.dataset.role === role) && row.dataset.selector.includes(selector);
      row.hidden = !keep;
      if (keep) shown++;
    }
    status.textContent = shown + ' of ' + rows.length + ' shown';
  });
}
for (const button of document.querySelectorAll('button[data-copy]')) {
  button.hidden = false;
  button.addEventListener('click', async () => {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById(button.dataset.copy + '-status');
    try { await navigator.clipboard.writeText(field.value); status.textContent = 'Copied to the clipboard.'; }
    catch { field.select(); status.textContent = 'Selected: press Ctrl+C (or Cmd+C) to copy.'; }
  });
}
`;

/** The console's sections, for the navigation. */
export type Section = 'tokens' | 'jobs' | 'activity';

/** Who is signed in, as the header shows it, and the CSRF token of the sign-out form. */
export interface SignedIn {
  readonly tokenId: string;
  readonly name: string;
  readonly labelSelector: string;
  readonly csrf: string;
}

function headerHtml(section: Section | undefined, who: SignedIn | undefined): string {
  if (who === undefined) return `<header><span class="brand">jobgate console</span></header>`;
  const link = (name: Section, text: string) => `<li><a href="/console/${name}"${name === section ? ' aria-current="page"' : ''}>${text}</a></li>`;
  const scope = who.labelSelector === '' ? 'unscoped' : `scope <code>${esc(who.labelSelector)}</code>`;
  return `<header><span class="brand">jobgate console</span>
<nav aria-label="Console"><ul>${link('tokens', 'Tokens')}${link('jobs', 'Jobs')}${link('activity', 'Activity')}</ul></nav>
<span class="who">Signed in as <code>${esc(who.name)}</code> (operator, ${scope})</span>
<form method="post" action="/console/logout"><input type="hidden" name="csrf" value="${esc(who.csrf)}"><button type="submit" class="secondary">Sign out</button></form>
</header>`;
}

/** A whole page: `title` (plain text), the header for `who`, and `body` (HTML built with {@link esc}). */
export function layout(nonce: string, title: string, body: string, who?: SignedIn, section?: Section): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${esc(title)} · jobgate console</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
${headerHtml(section, who)}
<main id="main" tabindex="-1">
${body}
</main>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`;
}

/** Headers of every console page: no caching, no framing, nothing external, only this response's style and script. */
export function pageHeaders(nonce: string): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'referrer-policy': 'same-origin',
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'cross-origin-opener-policy': 'same-origin',
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  };
}
