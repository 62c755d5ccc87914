// A real browser for the dashboard's tests: Debian's chromium (scripts/toolchain.sh
// outpost_ensure_chromium installs it; no browser is ever downloaded), driven by
// playwright-core over its DevTools protocol, headless.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { repoRoot } from './hub-process.ts';

/** The chromium binary: OUTPOST_CHROMIUM_BIN (set by the toolchain), else Debian's path. */
export const chromiumPath = process.env.OUTPOST_CHROMIUM_BIN || '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no chromium at ${chromiumPath}: run scripts/test (it installs Debian's chromium) or set OUTPOST_CHROMIUM_BIN`,
    );
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Chromium's sandbox refuses to start as root (test containers); elsewhere it stays on.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/** A fresh browser profile (its own cookies) that trusts the test hub's certificate. */
export function newContext(browser: Browser): Promise<BrowserContext> {
  // The hub's serving certificate is signed by the hub's own CA, made for the test: the
  // browser cannot know that CA, so the context accepts it (the tests check TLS elsewhere).
  return browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
}

/** With OUTPOST_SCREENSHOTS=1, the page as docs/screenshots/NAME.png (the README shows them):
 *  the screenshots are made by the tests, from real hubs (and agents). */
export async function shoot(page: Page, name: string): Promise<void> {
  if (process.env.OUTPOST_SCREENSHOTS !== '1') return;
  await mkdir(join(repoRoot, 'docs/screenshots'), { recursive: true });
  await page.screenshot({ path: join(repoRoot, 'docs/screenshots', `${name}.png`), fullPage: true });
}
