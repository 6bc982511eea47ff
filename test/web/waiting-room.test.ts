import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchBrowser, openPage, checkScreen } from '../support/browser.js';
import { ADMIN_EMAIL, createEvent, signUp } from '../support/fixtures.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

describe.skipIf(chromiumPath() === null)('the waiting room in the browser', { timeout: 180_000 }, () => {
  let sys: TestSystem;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [sys, browser] = await Promise.all([startTestSystem({ WAITING_ROOM_TICK_MS: '100' }), launchBrowser()]);
  });
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await browser?.close();
    await sys?.stop();
  });

  it('joins the pre-queue, is told the place is drawn at the start, is admitted live and books with the admission', async () => {
    const admin = await signUp(sys, ADMIN_EMAIL);
    const event = await createEvent(sys, admin.token, {
      title: 'Queued Quartet Night',
      ticketsTotal: 5,
      maxPerUser: 1,
      saleStartsAt: new Date(Date.now() + 30_000).toISOString(),
      waitingRoom: { opensMinutesBefore: 30, admitPerSecond: 100, admissionSeconds: 120 },
    });
    const buyer = await signUp(sys);
    const { page, context } = await openPage(browser, sys.app.url, 'phone');
    contexts.push(context);
    await context.addInitScript((t) => localStorage.setItem('tickets.token', t), buyer.token);

    await page.goto(`/events/${event.id}`);
    await page.getByRole('button', { name: 'Join the waiting room' }).click();
    await page.getByText('Your place is drawn when the sale starts.').waitFor();
    expect(await page.getByRole('button', { name: /^Book for/ }).count()).toBe(0);
    await checkScreen(page, 'waiting-room-pre-queue');

    // The sale starts: the page never reloads; queuePassUpdated brings the admission.
    await page.getByTestId('admitted').waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: /^Book for/ }).click();
    await page.waitForURL(/\/orders\//);
    await page.getByTestId('countdown').waitFor();
  });
});
