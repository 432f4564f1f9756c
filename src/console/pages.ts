/**
 * The console's pages, each a small render function of what it shows. Every value that comes from
 * Redis or from a request (names, selectors, labels, audit fields, form input) goes through
 * {@link esc}. Forms work without JavaScript; each state-changing one carries the CSRF token.
 */
import type { AuditEvent } from '../audit/event.js';
import type { JobView } from '../jobs/record.js';
import type { TokenView } from '../tokens/record.js';
import { esc, layout, selectorHtml, timeHtml, type SignedIn } from './html.js';

/** The sign-in page: paste an operator token. */
export function signInPage(nonce: string, message?: { error?: string; notice?: string }): string {
  const shown = message?.error
    ? `<p class="error" role="alert">${esc(message.error)}</p>`
    : message?.notice
      ? `<p class="notice" role="status">${esc(message.notice)}</p>`
      : '';
  return layout(
    nonce,
    'Sign in',
    `<div class="card narrow">
<h1>Sign in to the token console</h1>
<p>Manage the tokens and see the jobs of your team. The console needs an <strong>operator</strong> token.</p>
${shown}
<form method="post" action="/console/login">
<label for="token">Operator token</label>
<input id="token" name="token" type="password" autocomplete="off" autocapitalize="off" spellcheck="false" required autofocus aria-describedby="token-hint">
<button type="submit">Sign in</button>
<p class="hint" id="token-hint">It stays in this browser as a session cookie for this host only, never in the address bar.</p>
</form>
</div>`,
  );
}

/** A page that says what happened and where to go: a refusal, a failure, a result. */
export function messagePage(
  nonce: string,
  title: string,
  message: string,
  who?: SignedIn,
  link = { href: '/console/tokens', text: 'Back to the tokens' },
): string {
  return layout(
    nonce,
    title,
    `<div class="card narrow"><h1>${esc(title)}</h1>
<p>${esc(message)}</p>
<p><a href="${esc(link.href)}">${esc(link.text)}</a></p></div>`,
    who,
  );
}

/** An expiry a form offers: the value sent and what the person reads. */
export interface ExpiryOption {
  readonly value: string;
  readonly label: string;
}

export function expirySelect(id: string, options: readonly ExpiryOption[], hint: string): string {
  const items = options.map((option) => `<option value="${esc(option.value)}">${esc(option.label)}</option>`).join('');
  return `<label for="${id}">Expiry</label>
<select id="${id}" name="expiresIn" aria-describedby="${id}-hint">${items}</select>
<p class="hint" id="${id}-hint">${esc(hint)}</p>`;
}

/** The page that shows a new token value, once. */
export function valuePage(nonce: string, who: SignedIn, token: TokenView, value: string, action: 'created' | 'renewed'): string {
  const own = action === 'renewed' && token.id === who.tokenId;
  return layout(
    nonce,
    `Token ${token.spec.name} ${action}`,
    `<div class="card narrow">
<h1>Token <code>${esc(token.spec.name)}</code> ${action}</h1>
<p class="notice" role="status">Copy the value now: <strong>it will not be shown again.</strong> Whoever holds it can reach what the token reaches.</p>
<label for="token-value">Token value</label>
<div class="secret"><input id="token-value" type="text" readonly value="${esc(value)}" autocomplete="off" spellcheck="false" autocapitalize="off" aria-describedby="token-value-status">
<button type="button" data-copy="token-value" hidden>Copy</button></div>
<p class="hint" id="token-value-status" role="status" aria-live="polite"></p>
<p>Role <strong>${esc(token.spec.role)}</strong>, selector ${selectorHtml(token.spec.labelSelector)}, version ${esc(token.status.version)}${
      token.spec.expiresAt ? `, expires ${timeHtml(token.spec.expiresAt, Date.now())}` : ', no expiry'
    }.</p>
${action === 'renewed' ? '<p>The previous value stopped working.</p>' : ''}
${own ? '<p class="error">This is the token you signed in with: your console session ended. Sign in again with the new value.</p>' : ''}
<p><a href="/console/tokens">Back to the tokens</a></p>
</div>`,
    who,
    'tokens',
  );
}

/** The confirmation before renewing or deleting a token, naming it. */
export function confirmPage(nonce: string, who: SignedIn, token: TokenView, action: 'renew' | 'delete', expiry: readonly ExpiryOption[]): string {
  const name = esc(token.spec.name);
  const what =
    action === 'renew'
      ? `<p>Renewing gives <code>${name}</code> a new value. The current value stops working at once, for everyone who holds it.</p>
${expirySelect('renew-expiry', expiry, 'The new value keeps the current expiry unless you choose another.')}`
      : `<p>Deleting <code>${name}</code> stops its value from working at once, for everyone who holds it. This cannot be undone.</p>`;
  return layout(
    nonce,
    `${action === 'renew' ? 'Renew' : 'Delete'} token ${token.spec.name}?`,
    `<div class="card narrow">
<h1>${action === 'renew' ? 'Renew' : 'Delete'} token <code>${name}</code>?</h1>
<p>Role <strong>${esc(token.spec.role)}</strong>, selector ${selectorHtml(token.spec.labelSelector)}, id <code>${esc(token.id)}</code>.</p>
<form method="post" action="/console/tokens/${esc(token.id)}/${action}">
<input type="hidden" name="csrf" value="${esc(who.csrf)}">
${what}
<button type="submit"${action === 'delete' ? ' class="danger"' : ''}>${action === 'renew' ? 'Renew' : 'Delete'} ${name}</button>
<a class="button secondary" href="/console/tokens">Cancel</a>
</form></div>`,
    who,
    'tokens',
  );
}

/** One job and the tokens (in the caller's scope) that reach it. */
export interface JobRow {
  readonly job: JobView;
  readonly tokens: readonly TokenView[];
}

function labelsHtml(labels: Record<string, string>): string {
  const shown = Object.entries(labels).filter(([key]) => key !== 'jobgate/id');
  if (shown.length === 0) return '<span class="muted">none</span>';
  return shown.map(([key, value]) => `<span class="tag"><code>${esc(key)}=${esc(value)}</code></span>`).join(' ');
}

function reachHtml(row: JobRow): string {
  if (row.job.spec.unsecureHttp) return '<strong>Anyone</strong>: this job is served without a token (unsecureHttp).';
  if (row.tokens.length === 0) return '<span class="muted">No token in your scope</span>';
  const items = row.tokens.map((token) => `<li><code>${esc(token.spec.name)}</code> <span class="muted">(${esc(token.spec.role)})</span></li>`);
  return `<ul class="plain">${items.join('')}</ul>`;
}

export function jobsPage(nonce: string, who: SignedIn, rows: readonly JobRow[], now: number): string {
  const body = rows
    .map(({ job }, i) => {
      const ports = Object.keys(job.spec.ports);
      return `<tr id="job-${esc(job.id)}">
<td data-label="Job"><code>${esc(job.id)}</code></td>
<td data-label="Labels">${labelsHtml(job.spec.labels)}</td>
<td data-label="Ports">${ports.length === 0 ? '<span class="muted">default only</span>' : ports.map((port) => `<code>${esc(port)}</code>`).join(', ')}</td>
<td data-label="unsecureHttp">${job.spec.unsecureHttp ? '<strong>yes</strong>' : 'no'}</td>
<td data-label="Last used">${timeHtml(job.status?.lastUsedAt, now)}</td>
<td data-label="Who can open it">${reachHtml(rows[i]!)}</td>
<td data-label="Activity"><a href="/console/activity?job=${encodeURIComponent(job.id)}">Events<span class="visually-hidden"> of ${esc(job.id)}</span></a></td>
</tr>`;
    })
    .join('\n');
  return layout(
    nonce,
    'Jobs',
    `<h1>Jobs</h1>
<p class="muted">The jobs in your scope, and for each the tokens in your scope that can open it (read and operator tokens both reach job URLs; operator tokens also the training API). Expired tokens are left out.</p>
${
  rows.length === 0
    ? '<p class="card">No job in your scope.</p>'
    : `<div class="card"><table><caption>${rows.length} job${rows.length === 1 ? '' : 's'}</caption>
<thead><tr><th scope="col">Job</th><th scope="col">Labels</th><th scope="col">Ports</th><th scope="col">unsecureHttp</th><th scope="col">Last used</th><th scope="col">Who can open it</th><th scope="col">Activity</th></tr></thead>
<tbody>${body}</tbody></table></div>`
}`,
    who,
    'jobs',
  );
}

function actorHtml(event: AuditEvent): string {
  const actor = event.actor;
  return actor.kind === 'token'
    ? `token <code>${esc(actor.tokenName)}</code> <span class="muted">from ${esc(actor.client)}</span>`
    : `CLI <code>${esc(actor.user)}@${esc(actor.host)}</code>`;
}

function targetHtml(event: AuditEvent): string {
  const target = event.target;
  return target.kind === 'token'
    ? `token <code>${esc(target.name)}</code> <span class="muted">(${target.labelSelector ? `<code>${esc(target.labelSelector)}</code>` : 'every job'})</span>`
    : `job <code>${esc(target.id)}</code>`;
}

/** The activity filters as given. */
export interface ActivityFilter {
  readonly token: string;
  readonly job: string;
}

export function activityPage(nonce: string, who: SignedIn, events: readonly AuditEvent[], filter: ActivityFilter, now: number): string {
  const rows = events
    .map(
      (event) => `<tr><td data-label="When">${timeHtml(event.time, now)}</td><td data-label="Action"><code>${esc(event.action)}</code></td>
<td data-label="Target">${targetHtml(event)}</td><td data-label="By">${actorHtml(event)}</td></tr>`,
    )
    .join('\n');
  return layout(
    nonce,
    'Activity',
    `<h1>Activity</h1>
<form method="get" action="/console/activity" class="card" role="search" aria-label="Filter the activity">
<div class="fields">
<div><label for="filter-token">Token name or id</label><input id="filter-token" name="token" value="${esc(filter.token)}"></div>
<div><label for="filter-job">Job id</label><input id="filter-job" name="job" value="${esc(filter.job)}"></div>
</div>
<button type="submit">Filter</button> <a href="/console/activity">Clear</a>
</form>
<div class="card">${
      events.length === 0
        ? '<p>No event matches.</p>'
        : `<table><caption>Newest first: ${events.length} event${events.length === 1 ? '' : 's'}</caption>
<thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">By</th></tr></thead>
<tbody>${rows}</tbody></table>`
    }</div>`,
    who,
    'activity',
  );
}
