import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webAppRoute, type WebAppSettings } from './web-app.route.js';

const dirs: string[] = [];
const servers: Server[] = [];

function builtApp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'web-app-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="/assets/app-abc123.js"></script>');
  writeFileSync(join(dir, 'assets', 'app-abc123.js'), 'console.log(1)');
  writeFileSync(join(dir, 'favicon.svg'), '<svg/>');
  return dir;
}

async function serve(dir: string, settings: WebAppSettings): Promise<string> {
  const route = webAppRoute({ dir, settings });
  const server = createServer((req, res) => {
    if (!route(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const SIMULATED: WebAppSettings = { paymentProvider: 'simulated', stripePublishableKey: undefined };

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('the web app route', () => {
  let url: string;
  beforeAll(async () => {
    url = await serve(builtApp(), SIMULATED);
  });
  afterAll(() => {
    for (const s of servers) s.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('serves hashed assets as immutable and everything else revalidated, each with its content type', async () => {
    const asset = await fetch(`${url}/assets/app-abc123.js`);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const icon = await fetch(`${url}/favicon.svg`);
    expect(icon.headers.get('content-type')).toBe('image/svg+xml');
    expect(icon.headers.get('cache-control')).toBe('public, max-age=0, must-revalidate');
    const head = await fetch(`${url}/assets/app-abc123.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers a browser opening a client route with index.html, but leaves missing files, API paths, other methods and non-browser clients alone', async () => {
    for (const path of ['/', '/events/123', '/admin/events/abc']) {
      const res = await fetch(`${url}${path}`, { headers: { accept: BROWSER_ACCEPT } });
      expect(res.headers.get('content-type'), path).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control'), path).toBe('no-cache');
    }
    for (const path of ['/assets/gone-1.js', '/robots.txt', '/graphql', '/graphql/assets/x', '/healthz', '/metrics']) {
      expect((await fetch(`${url}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${url}/`, { method: 'POST' })).status).toBe(404);
    // An API client asking for an unknown route gets the server's 404, not the app.
    expect((await fetch(`${url}/events/123`, { headers: { accept: '*/*' } })).status).toBe(404);
    expect((await fetch(`${url}/events/123`, { headers: { accept: 'application/json' } })).status).toBe(404);
  });

  it('says plainly when the app is not built', async () => {
    const empty = await serve(join(tmpdir(), 'no-such-web-app-dir'), SIMULATED);
    const res = await fetch(`${empty}/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build');
  });

  it("gives the app Stripe's publishable key, and lets Stripe.js in, only with the stripe provider", async () => {
    const key = 'pk_test_abc123';
    const stripe = await serve(builtApp(), { paymentProvider: 'stripe', stripePublishableKey: key });
    expect(await (await fetch(`${stripe}/app-config.json`)).json()).toEqual({
      paymentProvider: 'stripe',
      stripePublishableKey: key,
    });
    expect((await fetch(`${stripe}/`)).headers.get('content-security-policy')).toContain(
      "script-src 'self' https://js.stripe.com",
    );

    const simulated = await serve(builtApp(), { paymentProvider: 'simulated', stripePublishableKey: key });
    expect(await (await fetch(`${simulated}/app-config.json`)).json()).toEqual({
      paymentProvider: 'simulated',
      stripePublishableKey: null,
    });
    const csp = (await fetch(`${simulated}/`)).headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self';");
    expect(csp).not.toContain('stripe');
  });
});
