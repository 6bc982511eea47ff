import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchBrowser, openPage, checkScreen, type Size } from '../support/browser.js';
import { persistedDocument, persistedGetPath } from '../../src/http/persisted-documents.js';
import { ADMIN_EMAIL, createEvent, signUp } from '../support/fixtures.js';
import { BookTicketDocument, EventDocument, PayOrderDocument, SimulatePaymentDocument } from '../generated/graphql.js';
import { eventually, gqlOk, startTestSystem, type TestSystem } from '../support/system.js';

/** The web app in headless Chromium against a whole test system, as buyers and an operator use it. */
// A browser on a busy two-core machine: generous per-test time, though each step still waits on events.
describe.skipIf(chromiumPath() === null)('the web app in a browser', { timeout: 120_000 }, () => {
  let sys: TestSystem;
  let browser: Browser;
  let adminToken: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [sys, browser] = await Promise.all([startTestSystem(), launchBrowser()]);
    adminToken = (await signUp(sys, ADMIN_EMAIL)).token;
  });
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await browser?.close();
    await sys?.stop();
  });

  async function open(size: Size, token?: string): Promise<Page> {
    const { context, page } = await openPage(browser, sys.app.url, size);
    contexts.push(context);
    if (token) await context.addInitScript((t) => localStorage.setItem('tickets.token', t), token);
    return page;
  }

  it('a buyer signs up, searches "jazz", books, watches the countdown, pays with the test card and is told it succeeded', async () => {
    const jazz = await createEvent(sys, adminToken, {
      title: 'Midnight Jazz Quartet',
      venue: 'Blue Room',
      price: 4500,
    });
    await createEvent(sys, adminToken, { title: 'Heavy Rock Night', venue: 'Garage' });
    const page = await open('phone');

    await page.goto('/');
    await page.getByRole('heading', { name: 'Heavy Rock Night' }).waitFor();
    await checkScreen(page, 'events');

    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.getByLabel('Name').fill('Ada Buyer');
    await page.getByLabel('E-mail').fill('ada@example.test');
    await page.getByLabel('Password').fill('password123');
    await checkScreen(page, 'sign-up');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('link', { name: 'My orders' }).waitFor();

    await page.getByLabel('Search events').fill('jazz');
    await page.getByLabel('Search events').press('Enter');
    await page.getByText('1 result for “jazz”').waitFor();
    expect(await page.getByRole('heading', { name: 'Heavy Rock Night' }).count()).toBe(0);
    await page.getByRole('link', { name: 'Midnight Jazz Quartet' }).click();

    await expect.poll(() => page.getByTestId('tickets-left').textContent()).toContain('100');
    await expect.poll(() => page.getByTestId('event-status').textContent()).toBe('On sale');
    await checkScreen(page, 'event');
    await page.getByLabel('Quantity').selectOption('2');
    await page.getByRole('button', { name: /^Book for/ }).click();

    await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
    const countdown = page.getByTestId('countdown');
    const first = await eventually(async () => /\d+:\d\d/.exec((await countdown.textContent()) ?? '')?.[0]);
    // The countdown ticks live (paymentCountdown): a later reading differs from the first.
    await expect
      .poll(async () => /\d+:\d\d/.exec((await countdown.textContent()) ?? '')?.[0], { timeout: 5000 })
      .not.toBe(first);
    await checkScreen(page, 'checkout');

    // A number that is neither test card is refused before anything is sent.
    await page.getByLabel('Card number').fill('1234 5678');
    await page.getByRole('button', { name: /^Pay / }).click();
    await page.getByText('Use one of the test card numbers').waitFor();

    // The declining card fails the payment; the hold stays and the buyer can try again.
    await page.getByLabel('Card number').fill('4000 0000 0000 0002');
    await page.getByRole('button', { name: /^Pay / }).click();
    await page.getByText('The card was declined').waitFor();

    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByRole('button', { name: /^Pay / }).click();
    await page.getByText('Payment succeeded. Your tickets are booked.').waitFor();
    const toast = page.getByTestId('toast').filter({ hasText: 'Payment received' });
    await toast.waitFor();
    expect(await toast.textContent()).toContain('2 tickets for Midnight Jazz Quartet');
    await checkScreen(page, 'paid');

    await page.getByRole('link', { name: 'My orders' }).click();
    const row = page.getByTestId('order-row').filter({ hasText: 'Midnight Jazz Quartet' });
    await row.getByText('Paid').waitFor();
    await checkScreen(page, 'my-orders');
    await page.getByRole('link', { name: /^Inbox/ }).click();
    await page.getByTestId('notification').filter({ hasText: 'Payment received' }).waitFor();
    await checkScreen(page, 'inbox');

    await expect
      .poll(async () => (await gqlOk(sys.url, EventDocument, { id: jazz.id })).event?.ticketsAvailable)
      .toBe(98);
  });

  it('two buyers race for the last ticket: exactly one gets it and the other sees it sold out, live', async () => {
    const event = await createEvent(sys, adminToken, { title: 'Last Seat Sonata', ticketsTotal: 1, maxPerUser: 1 });
    const [a, b] = await Promise.all([signUp(sys), signUp(sys)]);
    const pages = await Promise.all([open('desktop', a.token), open('phone', b.token)]);
    await Promise.all(
      pages.map(async (p) => {
        await p.goto(`/events/${event.id}`);
        await expect.poll(() => p.getByTestId('tickets-left').textContent()).toContain('1');
      }),
    );

    // Both click at once, but on a loaded machine one click can land after the other buyer has already won:
    // the live stock has then replaced the form with the sold-out notice, so this buyer never sent a booking
    // and has lost. Whether the click landed is known here, not guessed from the page later: a page whose
    // booking is in flight or queued shows the notice too once the stock reaches 0.
    const book = async (p: Page): Promise<'sent' | 'lost'> => {
      try {
        await p.getByRole('button', { name: /^Book for/ }).click({ timeout: 10_000 });
        return 'sent';
      } catch (err) {
        if (await p.getByTestId('sold-out').isVisible()) return 'lost';
        throw err;
      }
    };
    const clicks = await Promise.all(pages.map(book));

    const outcome = async (p: Page, i: number) => {
      if (clicks[i] === 'lost') return 'lost';
      if (/\/orders\//.test(p.url())) return 'won';
      return (await p.getByTestId('booking-outcome').textContent({ timeout: 1000 }))?.includes('Sold out')
        ? 'lost'
        : undefined;
    };
    const results = await eventually(
      async () => {
        const r = await Promise.all(pages.map((p, i) => outcome(p, i)));
        return r.every(Boolean) ? r : undefined;
      },
      15_000,
      'both booking outcomes',
    );
    expect([...results].sort()).toEqual(['lost', 'won']);
    const loser = pages[results.indexOf('lost')]!;
    // The stock subscription turned the loser's booking form into the sold-out notice.
    await loser.getByTestId('sold-out').waitFor();
    expect(await loser.getByTestId('tickets-left').textContent()).toContain('0');
    expect(await loser.getByTestId('event-status').textContent()).toBe('Sold out');
    await checkScreen(loser, 'sold-out');
  });

  it('a buyer whose booking is in flight when the last ticket goes sees it being decided, not the sold-out notice, until the answer', async () => {
    const event = await createEvent(sys, adminToken, { title: 'Final Chord Matinee', ticketsTotal: 1, maxPerUser: 1 });
    const [a, b] = await Promise.all([signUp(sys), signUp(sys)]);
    const page = await open('phone', b.token);
    await page.goto(`/events/${event.id}`);
    await expect.poll(() => page.getByTestId('tickets-left').textContent()).toContain('1');

    // B's bookTicket is held in the browser while A takes the last ticket: B's booking is in flight.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let held = false;
    await page.route('**/graphql', async (route) => {
      if (route.request().method() === 'POST' && route.request().postData()?.includes('bookTicket')) {
        held = true;
        await released;
      }
      await route.continue();
    });
    await page.getByRole('button', { name: /^Book for/ }).click();
    await expect.poll(() => held).toBe(true);
    const { bookTicket } = await gqlOk(
      sys.url,
      BookTicketDocument,
      { eventId: event.id, quantity: 1, idempotencyKey: 'first' },
      a.token,
    );
    expect(bookTicket.status).toBe('RESERVED');
    await expect.poll(() => page.getByTestId('tickets-left').textContent(), { timeout: 10_000 }).toContain('0');
    // The live stock says 0, but this buyer's booking is not decided yet: no notice, the form waits.
    expect(await page.getByTestId('sold-out').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Booking…' }).isDisabled()).toBe(true);

    release();
    await page.getByTestId('booking-outcome').getByText('Sold out').waitFor();
    await page.getByTestId('sold-out').waitFor();
  });

  it('an admin creates an event, sees the validation errors on the fields, then watches it sell', async () => {
    const page = await open('desktop', adminToken);
    await page.goto('/admin');
    await page.getByLabel('Title').fill('Operator Jazz Night');
    await page.getByLabel('Venue').fill('Main Hall');
    await page.getByLabel('Tickets').fill('0');
    await page.getByRole('button', { name: 'Create event' }).click();
    await page.getByTestId('error-ticketsTotal').waitFor();
    expect(await page.getByLabel('Tickets').getAttribute('aria-invalid')).toBe('true');
    await checkScreen(page, 'admin-create');

    await page.getByLabel('Tickets').fill('50');
    await page.getByRole('button', { name: 'Create event' }).click();
    await page.waitForURL(/\/admin\/events\/[0-9a-f-]{36}$/);
    const eventId = page.url().split('/').pop()!;
    await expect.poll(() => page.getByTestId('stat-tickets-left').textContent()).toContain('50');

    // Buyers book through the API while the operator watches the page.
    const buyers = await Promise.all([signUp(sys), signUp(sys), signUp(sys)]);
    const orderIds: string[] = [];
    for (const [i, buyer] of buyers.entries()) {
      const { bookTicket } = await gqlOk(
        sys.url,
        BookTicketDocument,
        { eventId, quantity: 2, idempotencyKey: `op-${i}` },
        buyer.token,
      );
      expect(bookTicket.status).toBe('RESERVED');
      orderIds.push(bookTicket.order!.id);
    }
    await gqlOk(sys.url, PayOrderDocument, { orderId: orderIds[0]! }, buyers[0].token);
    await gqlOk(sys.url, SimulatePaymentDocument, { orderId: orderIds[0]!, outcome: 'SUCCEED' }, buyers[0].token);

    await expect.poll(() => page.getByTestId('stat-tickets-left').textContent(), { timeout: 10_000 }).toContain('44');
    await expect.poll(() => page.getByTestId('status-SUCCEEDED').textContent()).toContain('1');
    await expect.poll(() => page.getByTestId('status-UNPAID').textContent()).toContain('2');
    expect(Number(await page.getByTestId('stat-reservations').textContent())).toBeGreaterThan(0);
    await page.getByRole('img', { name: 'The last minute' }).waitFor();
    await checkScreen(page, 'sale');
  });

  it('pages through a long search result with "Show more events" (cursor paging), without repeats', async () => {
    for (let i = 1; i <= 14; i++)
      await createEvent(sys, adminToken, { title: `Paging Gig ${i}`, venue: 'Paging Hall' });
    const page = await open('phone');
    await page.goto('/?q=paging');
    await page.getByText('14 results for “paging”').waitFor();
    const cards = page.getByRole('heading', { name: /^Paging Gig/ });
    await expect.poll(() => cards.count()).toBe(12);
    await page.getByRole('button', { name: 'Show more events' }).click();
    await expect.poll(() => cards.count()).toBe(14);
    expect(new Set(await cards.allTextContents()).size).toBe(14);
    expect(await page.getByRole('button', { name: 'Show more events' }).count()).toBe(0);
  });

  it('treats a token the API no longer accepts as signed out, and forgets it', async () => {
    const page = await open('desktop', 'not-a-valid-token');
    await page.goto('/orders');
    await page.getByRole('link', { name: 'Sign in', exact: true }).first().waitFor();
    expect(await page.getByRole('link', { name: 'My orders' }).count()).toBe(0);
    expect(await page.evaluate<string | null>("localStorage.getItem('tickets.token')")).toBeNull();
  });

  it('loads the event list and page with public persisted GETs, signed in or not', async () => {
    const event = await createEvent(sys, adminToken, { title: 'Cached Cello Recital' });
    const reads: Response[] = [];
    const watch = (page: Page) => {
      page.on('response', (r) => {
        if (new URL(r.url()).pathname === '/graphql') reads.push(r);
      });
      return page;
    };
    const persisted = (name: string) =>
      eventually(() => reads.find((r) => r.url().includes(persistedDocument(name).id)), 10_000, `a ${name} GET`);

    const anonymous = watch(await open('phone'));
    // A search: other tests' events may fill the list's first page.
    await anonymous.goto('/?q=cello');
    await anonymous.getByRole('heading', { name: 'Cached Cello Recital' }).waitFor();
    await anonymous.getByRole('link', { name: 'Cached Cello Recital' }).click();
    await anonymous.getByRole('heading', { name: 'Cached Cello Recital' }).waitFor();
    for (const name of ['EventList', 'EventPage']) {
      const read = await persisted(name);
      expect(read.request().method(), name).toBe('GET');
      expect(await read.request().headerValue('authorization'), name).toBeNull();
      expect(read.status(), name).toBe(200);
      expect(await read.headerValue('cache-control'), name).toBe('public, max-age=1, stale-while-revalidate=5');
      expect(await read.headerValue('etag'), name).toMatch(/^"[\w-]+"$/);
    }
    // The page's URL is the canonical one, so the app's visitors and any other client share cache entries.
    expect((await persisted('EventPage')).url()).toBe(
      `${sys.app.url}${persistedGetPath('EventPage', { id: event.id })}`,
    );
    // The reads that are not public, and everything that writes, stay POST.
    expect(reads.filter((r) => r.request().method() === 'POST')).toEqual([]);

    reads.length = 0;
    const buyer = await signUp(sys);
    const signedIn = watch(await open('phone', buyer.token));
    await signedIn.goto(`/events/${event.id}`);
    await signedIn.getByRole('heading', { name: 'Cached Cello Recital' }).waitFor();
    // The page is the same for everyone, so a signed-in buyer's read is the public, cacheable one too.
    const read = await persisted('EventPage');
    expect(read.request().method()).toBe('GET');
    expect(await read.request().headerValue('authorization')).toBeNull();
    expect(await read.headerValue('cache-control')).toBe('public, max-age=1, stale-while-revalidate=5');
    // Signed in, the app also asks who this is: a private read, over POST with the token.
    const me = await eventually(
      () => reads.find((r) => r.request().method() === 'POST' && r.request().postData()?.includes('WebMe')),
      10_000,
      'the WebMe POST',
    );
    expect(await me.request().headerValue('authorization')).toBe(`Bearer ${buyer.token}`);
  });

  it('the gateway serves the app with the right types and caching, and index.html for client routes', async () => {
    // As a browser opens a page; other clients get the JSON 404 for a path the server does not know.
    const index = await fetch(`${sys.app.url}/events/whatever`, { headers: { accept: 'text/html' } });
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await index.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${sys.app.url}${script}`);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${sys.app.url}/assets/missing-0000.js`)).status).toBe(404);
    const etag = asset.headers.get('etag')!;
    expect((await fetch(`${sys.app.url}${script}`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    // Only the built files are served: nothing above dist/web, and no file of the repository.
    for (const path of [
      '/%2e%2e/package.json',
      '/../../package.json',
      '/src/main.tsx',
      '/index.html/..%2f..%2fpackage.json',
    ]) {
      const res = await fetch(`${sys.app.url}${path}`);
      expect(res.status, path).toBe(404);
    }
    // GraphiQL keeps GET /graphql, and the API its paths.
    const graphiql = await fetch(`${sys.app.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await graphiql.text()).toContain('GraphiQL');
    expect((await fetch(`${sys.app.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${sys.app.url}/app-config.json`)).json()).toEqual({
      paymentProvider: 'simulated',
      stripePublishableKey: null,
    });
  });
});
