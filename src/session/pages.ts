/** The login page and its kin: small, accessible, no external assets, no JavaScript needed. */
import { escapeHtml } from '../util/html.js';

export interface LoginPage {
  readonly jobId: string;
  /** The path and query first asked for. */
  readonly next: string;
  /** A plain message shown above the form (never says which part of a token was wrong). */
  readonly error?: string;
  /** A message that is not an error (after logout). */
  readonly notice?: string | undefined;
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f5f6f8;--card:#fff;--text:#1b1f24;--muted:#57606a;--accent:#0b5cad;--accent-text:#fff;--error-bg:#fdecea;--error:#8a1c12;--border:#d0d7de}
@media (prefers-color-scheme:dark){:root{--bg:#0f1419;--card:#1a2027;--text:#e6edf3;--muted:#9da7b3;--accent:#4c9be8;--accent-text:#0f1419;--error-bg:#3b1512;--error:#ffb4a9;--border:#30363d}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:1rem;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{width:100%;max-width:26rem;background:var(--card);border:1px solid var(--border);border-radius:12px;padding:2rem 1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 .25rem}
p{margin:.25rem 0 1rem;color:var(--muted)}
code{font:0.95em ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--text);overflow-wrap:anywhere}
label{display:block;font-weight:600;margin:1rem 0 .35rem}
input[type=password]{width:100%;padding:.7rem .8rem;font:inherit;color:var(--text);background:var(--bg);border:1px solid var(--border);border-radius:8px}
input[type=password]:focus{outline:3px solid var(--accent);outline-offset:1px}
button{margin-top:1.25rem;width:100%;padding:.75rem;font:inherit;font-weight:600;color:var(--accent-text);background:var(--accent);border:0;border-radius:8px;cursor:pointer}
button:focus-visible{outline:3px solid var(--text);outline-offset:2px}
.error{background:var(--error-bg);color:var(--error);border-radius:8px;padding:.6rem .8rem;margin:1rem 0 0}
.notice{margin:1rem 0 0}
.hint{font-size:.875rem;margin:1.25rem 0 0}
a{color:var(--accent)}
`;

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

/** The "Login with token" page, posting to /__jobgate/login on the same host. */
export function loginPage(page: LoginPage): string {
  const message = page.error
    ? `<p class="error" role="alert">${escapeHtml(page.error)}</p>`
    : page.notice
      ? `<p class="notice" role="status">${escapeHtml(page.notice)}</p>`
      : '';
  return layout(
    `Log in · ${page.jobId}`,
    `<h1>Log in</h1>
<p>Job <code>${escapeHtml(page.jobId)}</code> needs an app token.</p>
${message}
<form method="post" action="/__jobgate/login">
<input type="hidden" name="next" value="${escapeHtml(page.next)}">
<label for="token">App token</label>
<input id="token" name="token" type="password" autocomplete="off" autocapitalize="off" spellcheck="false" required autofocus aria-describedby="token-hint">
<button type="submit">Log in</button>
<p class="hint" id="token-hint">Paste the app token you were given. It stays in this browser as a session cookie, never in the address bar.</p>
</form>`,
  );
}

/** What the page that asks before a deep link from elsewhere replaces a session shows. */
export interface SwitchSessionPage {
  readonly jobId: string;
  /** The name of the token the browser is logged in with now. */
  readonly currentTokenName: string;
  /** The deep link's token value: posted back in a hidden field, never in a URL. */
  readonly token: string;
  /** The path and query of the deep link without its token. */
  readonly next: string;
}

/**
 * Asked when a deep link followed from another site would replace a valid session with another
 * token's (login CSRF): log in with the link's token (a same-origin POST to /__jobgate/login) or
 * stay. The new token's name is not shown: whoever made the link chose it. Served with
 * SWITCH_SESSION_HEADERS, since the page's own URL holds the token.
 */
export function switchSessionPage(page: SwitchSessionPage): string {
  return layout(
    `Switch token? · ${page.jobId}`,
    `<h1>Log in with another token?</h1>
<p>You are logged in to job <code>${escapeHtml(page.jobId)}</code> with the token <code>${escapeHtml(page.currentTokenName)}</code>. The link you followed from another site holds a different token.</p>
<p>Continue only if you asked for this link: with another token you may see someone else's job, and what you do there is done as them.</p>
<form method="post" action="/__jobgate/login">
<input type="hidden" name="next" value="${escapeHtml(page.next)}">
<input type="hidden" name="token" value="${escapeHtml(page.token)}">
<button type="submit">Log in with the link's token</button>
</form>
<p class="hint"><a href="${escapeHtml(page.next)}">Stay logged in as <code>${escapeHtml(page.currentTokenName)}</code></a></p>`,
  );
}

/** A page for a refusal that a new token would not fix by itself (403). */
export function messagePage(title: string, message: string, jobId: string): string {
  return layout(
    `${title} · ${jobId}`,
    `<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
<form method="post" action="/__jobgate/logout"><button type="submit">Log in with another token</button></form>`,
  );
}

/** A page for an answer other than a login (404, 502, 503...): what happened, what to do, and where to go from here. */
export interface StatusPage {
  readonly title: string;
  readonly message: string;
  /** The job the request was for, when it is known. */
  readonly jobId?: string | undefined;
  /** A same-host path to try again (transient failures), shown as a link. */
  readonly retry?: string | undefined;
}

export function statusPage(page: StatusPage): string {
  const retry = page.retry === undefined ? '' : `\n<p class="hint"><a href="${escapeHtml(page.retry)}">Try again</a></p>`;
  const job = page.jobId === undefined ? '' : `\n<p>Job <code>${escapeHtml(page.jobId)}</code></p>`;
  return layout(
    page.jobId === undefined ? page.title : `${page.title} · ${page.jobId}`,
    `<h1>${escapeHtml(page.title)}</h1>${job}\n<p>${escapeHtml(page.message)}</p>${retry}`,
  );
}

/** The notice on the login page when a session ended because its token was renewed or deleted. */
export const SESSION_ENDED = 'Your session ended because its token was renewed or deleted. Log in with the token you have now.';

/** The error shown on the login page to an address past the failure limit. */
export const TOO_MANY_ATTEMPTS = 'Too many failed attempts from your address. Wait a minute, then try again.';

/** The 403 page for a valid token whose label selector does not match the job. */
export function noAccessPage(jobId: string, subject: 'Your token' | 'This token' = 'Your token'): string {
  return messagePage('No access to this job', `${subject} is valid, but its label selector does not match this job.`, jobId);
}

/** Headers of every page: no caching, no framing, nothing external, same-origin Referer (so the form's POST carries an Origin). */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
} as const;

/**
 * Headers of the page that asks before switching tokens: its URL is the deep link, token
 * included, so no Referer at all (the form's POST then carries `Origin: null` and
 * `Sec-Fetch-Site: same-origin`, which the login form accepts).
 */
export const SWITCH_SESSION_HEADERS = { ...PAGE_HEADERS, 'referrer-policy': 'no-referrer' } as const;
