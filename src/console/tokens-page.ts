/**
 * The tokens page: the tokens in the caller's scope as a table sorted and filtered by query
 * parameters (links and a GET form: no script needed), and the form that creates one.
 */
import type { TokenView } from '../tokens/record.js';
import { esc, layout, selectorHtml, timeHtml, type SignedIn } from './html.js';
import { expirySelect, type ExpiryOption } from './pages.js';

export const SORT_KEYS = ['name', 'role', 'selector', 'created', 'lastUsed', 'expires', 'version'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** What the table shows: filters (substrings; a role) and the order. */
export interface TokenQuery {
  readonly name: string;
  readonly role: '' | 'read' | 'operator';
  readonly selector: string;
  readonly sort: SortKey;
  readonly descending: boolean;
}

/** The create form as last sent, and what was wrong with it, by field. */
export interface CreateForm {
  readonly name: string;
  readonly role: string;
  readonly selector: string;
  readonly errors: Partial<Record<'name' | 'role' | 'selector' | 'expiresIn' | 'form', string>>;
}

export const EMPTY_FORM: CreateForm = { name: '', role: 'read', selector: '', errors: {} };

const SORT_VALUE: Readonly<Record<SortKey, (token: TokenView) => string | number>> = {
  name: (token) => token.spec.name.toLowerCase(),
  role: (token) => token.spec.role,
  selector: (token) => token.spec.labelSelector,
  created: (token) => token.createdAt,
  lastUsed: (token) => token.status.lastUsedAt ?? '',
  expires: (token) => token.spec.expiresAt ?? '9999',
  version: (token) => token.status.version,
};

/** The tokens the query keeps, in its order. */
export function selectTokens(tokens: readonly TokenView[], query: TokenQuery): TokenView[] {
  const name = query.name.toLowerCase();
  const kept = tokens.filter(
    (token) =>
      token.spec.name.toLowerCase().includes(name) &&
      (query.role === '' || token.spec.role === query.role) &&
      token.spec.labelSelector.includes(query.selector),
  );
  const value = SORT_VALUE[query.sort];
  return kept.sort((a, b) => {
    const x = value(a);
    const y = value(b);
    const order = x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : 1;
    return query.descending ? -order : order;
  });
}

function queryString(query: TokenQuery, sort: SortKey, descending: boolean): string {
  const params = new URLSearchParams();
  if (query.name) params.set('name', query.name);
  if (query.role) params.set('role', query.role);
  if (query.selector) params.set('selector', query.selector);
  params.set('sort', sort);
  if (descending) params.set('order', 'desc');
  return `?${params.toString()}`;
}

function headerCell(query: TokenQuery, key: SortKey, text: string): string {
  const current = query.sort === key;
  const next = current && !query.descending;
  const sort = current ? ` aria-sort="${query.descending ? 'descending' : 'ascending'}"` : '';
  const arrow = current ? (query.descending ? ' ↓' : ' ↑') : '';
  return `<th scope="col"${sort}><a href="/console/tokens${esc(queryString(query, key, next))}">${text}${arrow}<span class="visually-hidden">, sort</span></a></th>`;
}

function rowHtml(token: TokenView, now: number): string {
  const name = esc(token.spec.name);
  const expiry =
    token.spec.expiresAt === undefined
      ? '<span class="muted">never</span>'
      : `${timeHtml(token.spec.expiresAt, now)}${token.status.expired ? ' <strong>(expired)</strong>' : ''}`;
  return `<tr data-name="${name}" data-role="${esc(token.spec.role)}" data-selector="${esc(token.spec.labelSelector)}">
<td data-label="Name"><code>${name}</code></td>
<td data-label="Role">${esc(token.spec.role)}</td>
<td data-label="Selector">${selectorHtml(token.spec.labelSelector)}</td>
<td data-label="Created">${timeHtml(token.createdAt, now)}</td>
<td data-label="Last used">${timeHtml(token.status.lastUsedAt, now)}</td>
<td data-label="Expires">${expiry}</td>
<td data-label="Version">${esc(token.status.version)}</td>
<td data-label="Actions"><div class="actions"><a href="/console/tokens/${esc(token.id)}/renew">Renew<span class="visually-hidden"> ${name}</span></a>
<a href="/console/tokens/${esc(token.id)}/delete">Delete<span class="visually-hidden"> ${name}</span></a>
<a href="/console/activity?token=${esc(encodeURIComponent(token.id))}">Events<span class="visually-hidden"> of ${name}</span></a></div></td>
</tr>`;
}

const SORT_LABELS: Readonly<Record<SortKey, string>> = {
  name: 'Name',
  role: 'Role',
  selector: 'Selector',
  created: 'Created',
  lastUsed: 'Last used',
  expires: 'Expires',
  version: 'Version',
};

function sortOptions(query: TokenQuery): string {
  return SORT_KEYS.map((key) => `<option value="${key}"${query.sort === key ? ' selected' : ''}>${SORT_LABELS[key]}</option>`).join('');
}

function filterForm(query: TokenQuery): string {
  const role = (value: string, text: string) => `<option value="${value}"${query.role === value ? ' selected' : ''}>${text}</option>`;
  return `<form method="get" action="/console/tokens" class="card" role="search" aria-label="Filter the tokens" data-live-filter>
<div class="fields">
<div><label for="filter-name">Name contains</label><input id="filter-name" name="name" value="${esc(query.name)}"></div>
<div><label for="filter-role">Role is</label><select id="filter-role" name="role">${role('', 'any')}${role('read', 'read')}${role('operator', 'operator')}</select></div>
<div><label for="filter-selector">Selector contains</label><input id="filter-selector" name="selector" value="${esc(query.selector)}"></div>
<div><label for="filter-sort">Sort by</label><select id="filter-sort" name="sort">${sortOptions(query)}</select></div>
<div><label for="filter-order">Order</label><select id="filter-order" name="order"><option value="asc">ascending</option><option value="desc"${query.descending ? ' selected' : ''}>descending</option></select></div>
</div>

<button type="submit">Filter</button> <a href="/console/tokens">Clear</a>
<p class="hint" id="filter-status" role="status" aria-live="polite"></p>
</form>`;
}

function fieldError(form: CreateForm, field: keyof CreateForm['errors']): { attrs: string; html: string } {
  const error = form.errors[field];
  if (error === undefined) return { attrs: '', html: '' };
  return { attrs: ` aria-invalid="true" aria-errormessage="new-${field}-error"`, html: `<p class="field-error" id="new-${field}-error">${esc(error)}</p>` };
}

function createForm(who: SignedIn, form: CreateForm, expiry: readonly ExpiryOption[]): string {
  const [name, role, selector] = [fieldError(form, 'name'), fieldError(form, 'role'), fieldError(form, 'selector')];
  const option = (value: string) => `<option value="${value}"${form.role === value ? ' selected' : ''}>${value}</option>`;
  const scopeHint =
    who.labelSelector === ''
      ? 'Empty: the token reaches every job.'
      : `Your scope (${who.labelSelector}) is added to it: the token never reaches beyond yours.`;
  return `<form method="post" action="/console/tokens" class="card" id="create" aria-labelledby="create-title">
<h2 id="create-title">Create a token</h2>
${form.errors.form ? `<p class="error" role="alert">${esc(form.errors.form)}</p>` : ''}
<input type="hidden" name="csrf" value="${esc(who.csrf)}">
<div class="fields">
<div><label for="new-name">Name</label><input id="new-name" name="name" required maxlength="128" value="${esc(form.name)}"${name.attrs}>${name.html}</div>
<div><label for="new-role">Role</label><select id="new-role" name="role" aria-describedby="new-role-hint"${role.attrs}>${option('read')}${option('operator')}</select>
<p class="hint" id="new-role-hint">read: job URLs; operator: also the training API and this console.</p>${role.html}</div>
<div><label for="new-selector">Label selector</label><input id="new-selector" name="selector" value="${esc(form.selector)}" placeholder="team=a" aria-describedby="new-selector-hint"${selector.attrs}>
<p class="hint" id="new-selector-hint">${esc(scopeHint)}</p>${selector.html}</div>
<div>${expirySelect('new-expiry', expiry, 'When the token stops working.')}${fieldError(form, 'expiresIn').html}</div>
</div>
<button type="submit">Create token</button>
</form>`;
}

export interface TokensPage {
  readonly tokens: readonly TokenView[];
  readonly total: number;
  readonly query: TokenQuery;
  readonly form: CreateForm;
  readonly expiry: readonly ExpiryOption[];
  readonly notice?: string;
  readonly now: number;
}

export function tokensPage(nonce: string, who: SignedIn, page: TokensPage): string {
  const { query, now } = page;
  const table =
    page.tokens.length === 0
      ? `<p>${page.total === 0 ? 'No token in your scope yet.' : 'No token matches the filter.'}</p>`
      : `<table><caption>${page.tokens.length} of ${page.total} token${page.total === 1 ? '' : 's'} in your scope</caption>
<thead><tr>${headerCell(query, 'name', 'Name')}${headerCell(query, 'role', 'Role')}${headerCell(query, 'selector', 'Selector')}${headerCell(query, 'created', 'Created')}${headerCell(
          query,
          'lastUsed',
          'Last used',
        )}${headerCell(query, 'expires', 'Expires')}${headerCell(query, 'version', 'Version')}<th scope="col">Actions</th></tr></thead>
<tbody>${page.tokens.map((token) => rowHtml(token, now)).join('\n')}</tbody></table>`;
  return layout(
    nonce,
    'Tokens',
    `<h1>Tokens</h1>
${page.notice ? `<p class="notice" role="status">${esc(page.notice)}</p>` : ''}
${filterForm(query)}
<div class="card">${table}</div>
${createForm(who, page.form, page.expiry)}`,
    who,
    'tokens',
  );
}
