import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchBrowser, openPage, checkScreen } from '../support/browser.js';
import { ADMIN_EMAIL, createEvent, signUp } from '../support/fixtures.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

/**
 * A short hold, so the browser can watch one run out; BOOKING_WAIT_MS=0 makes every booking answer
 * QUEUED, so the app must follow bookingUpdated to the decision before it can show the order.
 */
const HOLD_SECONDS = 5;

describe.skipIf(chromiumPath() === null)('a hold left to expire in the browser', { timeout: 120_000 }, () => {
  let sys: TestSystem;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [sys, browser] = await Promise.all([
      startTestSystem({ HOLD_SECONDS: String(HOLD_SECONDS), BOOKING_WAIT_MS: '0' }),
      launchBrowser(),
    ]);
  });
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await browser?.close();
    await sys?.stop();
  });

  it('books by keyboard, follows the QUEUED booking to its reservation, shows the countdown run out and the expiry, and the ticket count comes back on the event page live', async () => {
    const admin = await signUp(sys, ADMIN_EMAIL);
    const event = await createEvent(sys, admin.token, {
      title: 'Fleeting Chamber Evening',
      ticketsTotal: 3,
      maxPerUser: 1,
    });
    const buyer = await signUp(sys);

    const watching = await openPage(browser, sys.app.url, 'desktop');
    const buying = await openPage(browser, sys.app.url, 'phone');
    contexts.push(watching.context, buying.context);
    await buying.context.addInitScript((t) => localStorage.setItem('tickets.token', t), buyer.token);
    const watcher = watching.page;
    const page = buying.page;

    await watcher.goto(`/events/${event.id}`);
    await expect.poll(() => watcher.getByTestId('tickets-left').textContent()).toMatch(/^3 /);

    await page.goto(`/events/${event.id}`);
    // By keyboard alone: from the quantity, Tab reaches the Book button and Enter books.
    await page.getByLabel('Quantity').focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.textContent')).toMatch(/^Book for/);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/orders\//);
    await page.getByTestId('countdown').waitFor();
    expect(await page.getByTestId('countdown').textContent()).toMatch(/0:0[0-5]/);
    await expect.poll(() => watcher.getByTestId('tickets-left').textContent()).toMatch(/^2 /);

    await page
      .getByText('The hold expired before payment; the tickets went back on sale.')
      .waitFor({ timeout: (HOLD_SECONDS + 15) * 1000 });
    expect(await page.getByTestId('order-status').textContent()).toBe('Cancelled');
    expect(await page.getByTestId('countdown').count()).toBe(0);
    await checkScreen(page, 'hold-expired');
    // The watcher's page never reloaded: stockChanged brought the ticket back.
    await expect.poll(() => watcher.getByTestId('tickets-left').textContent(), { timeout: 10_000 }).toMatch(/^3 /);
  });
});
