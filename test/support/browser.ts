import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect, inject } from 'vitest';

/** The sizes every main screen is checked and photographed at. */
export const SIZES = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1280, height: 800 },
} as const;
export type Size = keyof typeof SIZES;

const SCREENSHOTS = fileURLToPath(new URL('../../test-results/screenshots/', import.meta.url));

/** Chromium as the global setup found it; null (with the reason logged there) when it cannot run here. */
export function chromiumPath(): string | null {
  return inject('chromium').path;
}

/**
 * One headless Chromium per test file, each person in a context of their own. Modest on CPU:
 * no GPU, no background networking, and a context per person instead of a browser per person.
 */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('no chromium');
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export async function openPage(
  browser: Browser,
  baseURL: string,
  size: Size = 'desktop',
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    baseURL,
    viewport: SIZES[size],
    deviceScaleFactor: 1,
    isMobile: size === 'phone',
    hasTouch: size === 'phone',
  });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  // A page error is a bug in the app: fail loudly instead of timing out on a blank screen.
  page.on('pageerror', (err) => console.error(`[browser] page error: ${err.message}`));
  return { context, page };
}

/** Saves test-results/screenshots/<name>-<size>.png (kept by CI as artefacts, not checked in). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const size = (page.viewportSize()?.width ?? 0) <= SIZES.phone.width ? 'phone' : 'desktop';
  await page.screenshot({ path: `${SCREENSHOTS}${name}-${size}.png`, fullPage: true });
}

/**
 * Checks one main screen at both sizes and photographs it: every form control has a label, and
 * nothing is wider than the screen (no sideways scrolling on a phone). Ends at the size it started at.
 */
export async function checkScreen(page: Page, name: string): Promise<void> {
  // Expressions as strings: they run in the page, and this project's types have no DOM.
  const unlabelled = await page.evaluate<string[]>(
    `[...document.querySelectorAll('input, select, textarea')]
       .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
       .map((el) => el.outerHTML)`,
  );
  expect(unlabelled, `${name}: controls without a label`).toEqual([]);
  const start = page.viewportSize() ?? SIZES.desktop;
  for (const size of ['phone', 'desktop'] as const) {
    await page.setViewportSize(SIZES[size]);
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow, `${name} at ${size} size: wider than the screen by`).toBeLessThanOrEqual(0);
    await screenshot(page, name);
  }
  await page.setViewportSize(start);
}
