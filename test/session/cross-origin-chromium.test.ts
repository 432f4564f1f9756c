/// <reference lib="dom" />
import t from 'tap';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { startHarness, waitFor } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

/**
 * In real Chromium: the job's own page can post with its session cookie, and a page on a
 * sibling job (same site, so SameSite=Lax sends the cookie) cannot.
 */

const browser: Browser = await launchChromium();
const PAGE = '<!doctype html><html><head><title>page</title></head><body><p>job page</p></body></html>';
const up = await Upstream.start('jobs', (req) =>
  req.url.startsWith('/api') ? undefined : { headers: { 'content-type': 'text/html; charset=utf-8' }, body: PAGE },
);
const h = await startHarness({ JOBGATE_JOB_DOMAIN: 'job.localhost' });
t.teardown(async () => {
  await browser.close();
  await h.close();
  await up.close();
});
await h.jobs.put({ id: 'nb1', upstream: up.url });
await h.jobs.put({ id: 'evil', upstream: up.url, unsecureHttp: true });
const { value } = await h.tokens.create({ name: 'alice', role: 'read' });
const port = h.jobgate.proxyAddress.port;
const NB1 = `http://nb1.job.localhost:${port}`;
const EVIL = `http://evil.job.localhost:${port}`;

const receivedBody = (body: string) => up.received.some((received) => received.url === '/api/save' && received.body.includes(body));

t.test("the job's own page posts with its session; a sibling job's page cannot", async (t) => {
  const page = await (await browser.newContext()).newPage();
  const login = await page.goto(`${NB1}/?jobgate_token=${value}`);
  t.equal(login?.status(), 200, 'logged in by the deep link');

  const ownFetch = await page.evaluate(() => fetch('/api/save', { method: 'POST', body: 'own-fetch' }).then((reply) => reply.status));
  t.equal(ownFetch, 200, "fetch POST from the job's page");
  t.ok(receivedBody('own-fetch'));
  const [ownForm] = await Promise.all([
    page.waitForResponse((response) => response.url().endsWith('/api/save')),
    page.waitForURL(`${NB1}/api/save`),
    page.evaluate(() => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = '/api/save';
      form.innerHTML = '<input name="x" value="own-form">';
      document.body.append(form);
      form.submit();
    }),
  ]);
  t.equal(ownForm.status(), 200, "form POST from the job's page");
  t.ok(receivedBody('own-form'));

  await page.goto(`${EVIL}/`);
  const before = h.log.access.length;
  await page.evaluate(
    (target) => fetch(target, { method: 'POST', body: 'evil-fetch', mode: 'no-cors', credentials: 'include' }).then(() => undefined),
    `${NB1}/api/save`,
  );
  const [evilForm] = await Promise.all([
    page.waitForResponse((response) => response.url() === `${NB1}/api/save`),
    page.waitForURL(`${NB1}/api/save`),
    page.evaluate((target) => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = target;
      form.innerHTML = '<input name="x" value="evil-form">';
      document.body.append(form);
      form.submit();
    }, `${NB1}/api/save`),
  ]);
  t.equal(evilForm.status(), 403, "a form on another job posting to this one's URL");
  h.jobgate.logger.flush();
  await waitFor(() => h.log.access.slice(before).filter((line) => line.decision === 'foreign_origin').length >= 2, 20_000);
  t.pass('both carried the session cookie and were refused as foreign_origin');
  t.notOk(receivedBody('evil-form') || receivedBody('evil-fetch'), 'neither reached the job');
});
