import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * How long Playwright waits for anything (an element, a response, a navigation) in these tests.
 * Its own default, 30 s, is too short for Chromium starved of CPU on a busy 2-core machine: a
 * wait that runs out there is the machine's slowness, not a failure of jobgate.
 */
export const BROWSER_WAIT_MS = 120_000;

/**
 * Debian's Chromium, headless, with nothing that would reach outside this machine. Every context
 * it makes (and so every page, `browser.newPage` included) waits up to BROWSER_WAIT_MS.
 */
export async function launchChromium(): Promise<Browser> {
  const browser = await launch();
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    context.setDefaultTimeout(BROWSER_WAIT_MS);
    return context;
  };
  return browser;
}

async function launch(): Promise<Browser> {
  try {
    return await chromium.launch({
      timeout: BROWSER_WAIT_MS,
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-quic',
        '--disable-sync',
      ],
    });
  } catch (error) {
    throw new Error(`cannot start Chromium at ${CHROMIUM_PATH}: install it with \`apt-get install -y chromium\` (${(error as Error).message.split('\n')[0]})`);
  }
}
