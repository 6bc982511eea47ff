import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphiqlHandler } from '../src/http/graphiql.js';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('GraphiQL handler', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const graphiql = createGraphiqlHandler({ endpoint: '/graphql' });
    // Stands in for the GraphQL server: whatever the handler declines ends up here.
    server = createServer((req, res) => {
      if (!graphiql(req, res)) res.writeHead(404).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.close();
    await once(server, 'close');
  });

  async function pageAssetUrls(): Promise<string[]> {
    const html = await (await fetch(`${base}/graphql`, { headers: { accept: BROWSER_ACCEPT } })).text();
    // data: URLs (the empty favicon) are inline and load nothing.
    return [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((url) => !url.startsWith('data:'));
  }

  it('serves an HTML page to a browser that references only its own local assets', async () => {
    const res = await fetch(`${base}/graphql`, { headers: { accept: BROWSER_ACCEPT } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('content-security-policy')).not.toContain('unsafe-');
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script, so the CSP needs no hash
    const urls = await pageAssetUrls();
    expect(urls.length).toBeGreaterThanOrEqual(4);
    for (const url of urls) expect(url).toMatch(/^\/graphql\/assets\/[\w.-]+\.(js|css)(\?v=\w+)?$/);
  });

  it('serves every referenced asset with a JS or CSS content type and a long cache lifetime', async () => {
    for (const url of await pageAssetUrls()) {
      const res = await fetch(base + url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type'), url).toMatch(/^text\/(javascript|css)/);
      expect(res.headers.get('cache-control'), url).toContain('max-age=31536000');
      expect((await res.arrayBuffer()).byteLength, url).toBeGreaterThan(500);
    }
  });

  it('declines requests that are not a browser asking for the page or a known asset', async () => {
    const json = await fetch(`${base}/graphql`, { headers: { accept: 'application/json' } });
    expect(json.status).toBe(404);
    const post = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { accept: BROWSER_ACCEPT, 'content-type': 'application/json' },
      body: '{"query":"{__typename}"}',
    });
    expect(post.status).toBe(404);
    const unknownAsset = await fetch(`${base}/graphql/assets/package.json`);
    expect(unknownAsset.status).toBe(404);
  });
});
