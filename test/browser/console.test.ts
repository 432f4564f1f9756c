/// <reference lib="dom" />
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { bearer, request } from '../helpers/http.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';
import { eventually } from '../helpers/wait.js';

// The token console in real Chromium, against a real jobgate and Redis: what an operator with no
// CLI and no Redis access does, end to end, checked with axe-core on every page.

const AXE = fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url));
const CONSOLE_HOST = 'console.localhost';

let browser: Browser;
let h: Harness;
let up: Upstream;
let consoleUrl: string;
let port: number;

t.before(async () => {
  up = await Upstream.start('notebook');
  h = await startHarness({
    JOBGATE_JOB_DOMAIN: 'job.localhost',
    JOBGATE_CONTROL_HOST: CONSOLE_HOST,
    JOBGATE_COOKIE_SECRET: 'a-cookie-secret-of-at-least-32-characters',
    JOBGATE_LAST_USE_INTERVAL_MS: '1000',
  });
  port = h.jobgate.proxyAddress.port;
  consoleUrl = `http://${CONSOLE_HOST}:${port}`;
  await h.jobs.put({ id: 'notebook', upstream: up.url, labels: { team: 'a' } });
  await h.jobs.put({ id: 'model', upstream: up.url, labels: { team: 'b' }, ports: { 8888: up.url } });
  await h.tokens.create({ name: 'alice', role: 'read', labelSelector: 'team=a' });
  await h.tokens.create({ name: 'bob', role: 'read', labelSelector: 'team=b' });
  browser = await launchChromium();
});

t.teardown(async () => {
  await browser?.close();
  await h?.close();
  await up?.close();
});

/** axe-core's serious and critical violations on the page (its script injected past the CSP, in a bypassCSP context). */
async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const results = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: unknown[] }> }> } }).axe;
    return (await axe.run()).violations;
  });
  return results.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help}, ${v.nodes.length} nodes`);
}

async function newPage(options: BrowserContextOptions = {}): Promise<Page> {
  const context = await browser.newContext({ bypassCSP: true, ...options });
  return context.newPage();
}

async function signIn(page: Page, value: string): Promise<void> {
  await page.goto(`${consoleUrl}/console/`);
  await page.getByLabel('Operator token').fill(value);
  await Promise.all([page.waitForURL(/\/console\/tokens$/), page.getByRole('button', { name: 'Sign in' }).click()]);
}

const onJob = (job: string, value: string) => request(h.url, { host: `${job}.job.localhost`, path: '/', headers: bearer(value) });

t.test('an operator manages a token end to end in the browser', async (t) => {
  const root = await h.tokens.create({ name: 'root', role: 'operator' });
  const page = await newPage();
  await page.goto(`${consoleUrl}/`);
  t.equal(new URL(page.url()).pathname, '/console/login', 'the console starts at its sign-in page');
  t.same(await axeViolations(page), [], 'sign-in page: no serious or critical axe violation');
  await signIn(page, root.value);
  t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Tokens');
  t.same(await axeViolations(page), [], 'tokens page');
  await page.getByLabel('Name contains').fill('ali');
  await page.locator('#filter-status', { hasText: '1 of 3 shown' }).waitFor();
  t.same(await page.locator('tr[data-name]:visible td[data-label="Name"] code').allTextContents(), ['alice'], 'the filter applies as you type, with script');
  await page.getByLabel('Name contains').fill('');
  const [cookie] = await page.context().cookies();
  t.match(cookie, { name: 'jobgate-console', httpOnly: true, sameSite: 'Strict', path: '/', domain: CONSOLE_HOST });

  await page.getByLabel('Name', { exact: true }).fill('ci-notebook');
  await page.locator('#new-role').selectOption('read');
  await page.getByLabel('Label selector').fill('team=a');
  await page.locator('#new-expiry').selectOption('30d');
  await Promise.all([page.waitForURL(/\/console\/tokens$/), page.getByRole('button', { name: 'Create token' }).click()]);
  t.match(await page.getByRole('heading', { level: 1 }).textContent(), 'Token ci-notebook created');
  t.match(await page.locator('.notice').textContent(), 'it will not be shown again');
  t.same(await axeViolations(page), [], 'the one-time value page');
  const value = await page.getByLabel('Token value').inputValue();
  t.match(value, /^jgt_/);
  t.ok(await page.getByRole('button', { name: 'Copy' }).isVisible(), 'the copy button, with script');
  await page.getByRole('button', { name: 'Copy' }).click();
  await page.locator('#token-value-status', { hasText: /Copied|Selected/ }).waitFor();
  t.pass('the copy button copies the value, or selects it for Ctrl+C');

  // The value opens the job in a browser of its own, by a deep link.
  const user = await browser.newPage();
  const job = await user.goto(`http://notebook.job.localhost:${port}/?jobgate_token=${value}`);
  t.equal(job?.status(), 200, 'the new token opens its job URL');
  await user.close();

  await page.getByRole('link', { name: 'Back to the tokens' }).click();
  await eventually('the last use of ci-notebook to show on the tokens page', async () => {
    await page.reload();
    const cell = page.getByRole('row').filter({ hasText: 'ci-notebook' }).locator('td[data-label="Last used"] time');
    return (await cell.count()) === 1 && /ago|just now/.test((await cell.textContent()) ?? '');
  });
  const used = page.getByRole('row').filter({ hasText: 'ci-notebook' }).locator('td[data-label="Last used"] time');
  t.match(await used.getAttribute('title'), /^\d{4}-\d\d-\d\dT/, 'the exact time on hover');

  await page.getByRole('link', { name: 'Renew ci-notebook' }).click();
  t.match(await page.getByRole('heading', { level: 1 }).textContent(), 'Renew token ci-notebook?');
  t.same(await axeViolations(page), [], 'the renew confirmation');
  await page.getByRole('button', { name: 'Renew ci-notebook' }).click();
  const renewed = await page.getByLabel('Token value').inputValue();
  t.not(renewed, value);
  t.equal((await onJob('notebook', value)).status, 401, 'the old value stops working');
  t.equal((await onJob('notebook', renewed)).status, 200, 'the new one works');

  await page.getByRole('link', { name: 'Back to the tokens' }).click();
  await page.getByRole('link', { name: 'Delete ci-notebook' }).click();
  t.match(await page.getByRole('heading', { level: 1 }).textContent(), 'Delete token ci-notebook?');
  await page.getByRole('button', { name: 'Delete ci-notebook' }).click();
  t.match(await page.getByRole('status').first().textContent(), 'Token ci-notebook was deleted');
  t.equal((await onJob('notebook', renewed)).status, 401, 'a deleted token stops working');

  await page.getByRole('link', { name: 'Activity' }).click();
  t.same(await axeViolations(page), [], 'activity page');
  const actions = await page.locator('td[data-label="Action"] code').allTextContents();
  t.same(actions.slice(0, 3), ['token.delete', 'token.renew', 'token.create'], 'the audit events, newest first');
  await page.getByLabel('Token name or id').fill('alice');
  await page.getByRole('button', { name: 'Filter' }).click();
  t.same(await page.locator('td[data-label="Action"] code').allTextContents(), ['token.create'], 'filtered by token');

  await page.getByRole('link', { name: 'Jobs' }).click();
  t.same(await axeViolations(page), [], 'jobs page');
  const notebook = page.locator('#job-notebook');
  t.match(await notebook.locator('td[data-label="Who can open it"]').textContent(), /alice \(read\)[\s\S]*root \(operator\)/);
  t.notMatch(await notebook.textContent(), 'bob');

  await page.getByRole('button', { name: 'Sign out' }).click();
  t.match(await page.getByRole('status').textContent(), 'You are signed out.');
  await page.goto(`${consoleUrl}/console/tokens`);
  t.equal(new URL(page.url()).pathname, '/console/login', 'signed out');
});

t.test('a read token is refused with a clear page; a scoped operator stays in its scope', async (t) => {
  const reader = await h.tokens.create({ name: 'reader', role: 'read' });
  const page = await newPage();
  await page.goto(`${consoleUrl}/console/login`);
  await page.getByLabel('Operator token').fill(reader.value);
  await page.getByRole('button', { name: 'Sign in' }).click();
  t.match(await page.getByRole('alert').textContent(), 'This is a read token');
  const lead = await h.tokens.create({ name: 'lead-b', role: 'operator', labelSelector: 'team=b' });
  await signIn(page, lead.value);
  const names = await page.locator('td[data-label="Name"] code').allTextContents();
  t.same(names.sort(), ['bob', 'lead-b'], 'only the tokens in its scope');
  await page.getByRole('link', { name: 'Jobs' }).click();
  t.same(await page.locator('td[data-label="Job"] code').allTextContents(), ['model'], 'only the jobs in its scope');
  t.match(await page.locator('#job-model td[data-label="Ports"]').textContent(), '8888');
});

t.test('keyboard only: sign in, skip to the content, focus always visible', async (t) => {
  const root = await h.tokens.create({ name: 'root-keys', role: 'operator' });
  const page = await newPage();
  await page.goto(`${consoleUrl}/console/login`);
  t.ok(await page.getByLabel('Operator token').evaluate((input) => input === document.activeElement), 'the token field has focus');
  await page.keyboard.type(root.value);
  await Promise.all([page.waitForURL(/\/console\/tokens$/), page.keyboard.press('Enter')]);
  await page.keyboard.press('Tab');
  t.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to the content', 'the first Tab reaches the skip link');
  t.ok(await page.getByRole('link', { name: 'Skip to the content' }).isVisible(), 'visible once focused');
  await page.keyboard.press('Enter');
  t.equal(await page.evaluate(() => document.activeElement?.id), 'main', 'Enter skips to the content');
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement!);
      return `${document.activeElement!.tagName} ${style.outlineStyle} ${style.outlineWidth}`;
    });
    t.match(outline, /^(A|INPUT|SELECT|BUTTON) solid 3px$/, `Tab ${i + 1}: a visible focus outline (${outline})`);
  }
});

t.test('the console works without JavaScript, under its CSP', async (t) => {
  const root = await h.tokens.create({ name: 'root-nojs', role: 'operator' });
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  await signIn(page, root.value);
  await page.getByLabel('Name', { exact: true }).fill('no-js');
  await Promise.all([page.waitForURL(/\/console\/tokens$/), page.getByRole('button', { name: 'Create token' }).click()]);
  const value = await page.getByLabel('Token value').inputValue();
  t.equal((await onJob('notebook', value)).status, 200, 'the value works');
  t.notOk(await page.getByRole('button', { name: 'Copy' }).isVisible(), 'no copy button that could not work');
  await page.goto(`${consoleUrl}/console/tokens?role=operator&sort=name&order=desc`);
  const names = await page.locator('td[data-label="Name"] code').allTextContents();
  t.same(names, [...names].sort().reverse(), 'sorted by a link');
  t.same(new Set(await page.locator('td[data-label="Role"]').allTextContents()), new Set(['operator']), 'filtered by role');
  t.same(violations, [], 'nothing the CSP refused');
  await context.close();
});

t.test('screenshots of the console at desktop and phone widths', async (t) => {
  const target = process.env.JOBGATE_UPDATE_SCREENSHOTS
    ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
    : mkdtempSync(join(tmpdir(), 'jobgate-console-shots-'));
  mkdirSync(target, { recursive: true });
  const root = await h.tokens.create({ name: 'ops-lead', role: 'operator' });
  for (const [width, height, suffix] of [
    [1280, 800, 'desktop'],
    [390, 844, 'phone'],
  ] as const) {
    const page = await newPage({ viewport: { width, height }, deviceScaleFactor: suffix === 'phone' ? 2 : 1, colorScheme: 'light' });
    const shoot = async (name: string) => {
      const file = join(target, `console-${name}-${suffix}.png`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      t.ok(overflow <= 0, `${name} at ${width} px: no horizontal scrolling`);
      t.same(await axeViolations(page), [], `${name} at ${width} px: no serious or critical axe violation`);
      await page.screenshot({ path: file, fullPage: suffix === 'desktop' });
      t.ok(statSync(file).size > 1000, file);
    };
    await page.goto(`${consoleUrl}/console/login`);
    await shoot('login');
    await signIn(page, root.value);
    await shoot('tokens');
    await page.getByLabel('Name', { exact: true }).fill(`dashboard-${suffix}`);
    await page.getByLabel('Label selector').fill('team=a');
    await Promise.all([page.waitForURL(/\/console\/tokens$/), page.getByRole('button', { name: 'Create token' }).click()]);
    await shoot('created');
    await page.goto(`${consoleUrl}/console/tokens`);
    await page.getByRole('link', { name: `Delete dashboard-${suffix}` }).click();
    await shoot('delete');
    await page.goto(`${consoleUrl}/console/jobs`);
    await shoot('jobs');
    await page.goto(`${consoleUrl}/console/activity`);
    await shoot('activity');
    await page.context().close();
  }
});
