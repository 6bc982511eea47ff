import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * GraphiQL in the browser on `GET <endpoint>`, served entirely from installed npm packages (no CDN):
 * React 18 and GraphiQL 3 UMD builds plus a small bootstrap script, all under `<endpoint>/assets/`.
 *
 * graphiql@3's UMD bundle already contains a graphql-ws client, so `subscriptionUrl` is enough for
 * subscriptions. Its fetcher sends the headers editor's JSON as HTTP headers and, for subscriptions,
 * as graphql-ws `connectionParams` (a new socket per subscription, so an edited token is picked up);
 * the keys are spelt as typed (`Authorization`), so the server's onConnect should match them case-insensitively.
 */

interface Asset {
  type: string;
  load: () => Buffer;
}

const require = createRequire(import.meta.url);

/** A file inside an installed package; resolved via package.json because `exports` hides the UMD paths. */
function packageFile(pkg: string, file: string): () => Buffer {
  return () => readFileSync(join(dirname(require.resolve(`${pkg}/package.json`)), file));
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** The page's only script of our own: a file rather than inline, so the CSP can stay at script-src 'self'. */
function bootstrapScript(endpoint: string): string {
  return `'use strict';
(function () {
  var endpoint = ${JSON.stringify(endpoint)};
  var wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + endpoint;
  // GraphiQL's dialogs inject a <style> (react-style-singleton) stamped with this global when set,
  // so the page's per-response style nonce lets it pass the CSP.
  window.__webpack_nonce__ = document.querySelector('meta[name="style-nonce"]').content;
  // CSSOM writes are allowed under style-src 'self'; a <style> block would not be.
  document.body.style.margin = '0';
  var root = document.getElementById('graphiql');
  root.style.height = '100vh';
  var fetcher = GraphiQL.createFetcher({ url: endpoint, subscriptionUrl: wsUrl });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: 'headers',
      defaultQuery:
        '# Get a token from signIn, then add it under Headers below:\\n' +
        '#   { "Authorization": "Bearer <token>" }\\n' +
        '# Headers go with HTTP requests and as subscription connectionParams.\\n\\n' +
        '{\\n  events(first: 5) {\\n    edges { node { id title status ticketsAvailable } }\\n  }\\n}\\n',
    }),
  );
})();
`;
}

function assetTable(endpoint: string): Record<string, Asset> {
  return {
    'react.production.min.js': { type: JS, load: packageFile('react', 'umd/react.production.min.js') },
    'react-dom.production.min.js': { type: JS, load: packageFile('react-dom', 'umd/react-dom.production.min.js') },
    'graphiql.min.js': { type: JS, load: packageFile('graphiql', 'graphiql.min.js') },
    'graphiql.min.css': { type: CSS, load: packageFile('graphiql', 'graphiql.min.css') },
    'bootstrap.js': { type: JS, load: () => Buffer.from(bootstrapScript(endpoint)) },
  };
}

function pageCsp(styleNonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${styleNonce}'`,
    "font-src 'self' data:", // GraphiQL's CSS embeds its fonts as data: URLs
    "img-src 'self' data:",
    "connect-src 'self'", // CSP3: 'self' also covers ws:/wss: to the same host
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function createGraphiqlHandler(opts: {
  /** Path of the GraphQL endpoint, e.g. '/graphql'; the page and its assets live under it. */
  endpoint: string;
}): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { endpoint } = opts;
  const assetPrefix = `${endpoint}/assets/`;
  const assets = assetTable(endpoint);
  // Read lazily (most processes never serve the page), then kept for the life of the process.
  const cache = new Map<string, Buffer>();
  const body = (name: string, asset: Asset): Buffer => {
    let buf = cache.get(name);
    if (!buf) cache.set(name, (buf = asset.load()));
    return buf;
  };

  // A content hash in each URL lets assets be cached "immutable" yet refresh after a package upgrade.
  let urls: Record<string, string> | undefined;
  const assetUrls = (): Record<string, string> =>
    (urls ??= Object.fromEntries(
      Object.entries(assets).map(([name, asset]) => {
        const hash = createHash('sha256').update(body(name, asset)).digest('hex').slice(0, 12);
        return [name, `${assetPrefix}${name}?v=${hash}`];
      }),
    ));

  const renderPage = (styleNonce: string): string => {
    const url = assetUrls();
    return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="style-nonce" content="${styleNonce}">
<title>GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${url['graphiql.min.css']}">
<script defer src="${url['react.production.min.js']}"></script>
<script defer src="${url['react-dom.production.min.js']}"></script>
<script defer src="${url['graphiql.min.js']}"></script>
<script defer src="${url['bootstrap.js']}"></script>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
</body>
</html>
`;
  };

  return (req, res) => {
    if (req.method !== 'GET') return false;
    const { pathname, searchParams } = new URL(req.url ?? '/', 'http://localhost');

    if (pathname === endpoint) {
      // Clients (curl, apps) asking for JSON go to the GraphQL server; only browsers get the page.
      // A persisted document's URL is the document's answer, in a browser's address bar too.
      if (!(req.headers.accept ?? '').includes('text/html') || searchParams.has('documentId')) return false;
      const styleNonce = randomBytes(16).toString('base64');
      const page = renderPage(styleNonce);
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(page),
        'cache-control': 'no-store', // the nonce is per response
        vary: 'Accept',
        'content-security-policy': pageCsp(styleNonce),
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      });
      res.end(page);
      return true;
    }

    if (pathname.startsWith(assetPrefix)) {
      const name = pathname.slice(assetPrefix.length);
      const asset = Object.hasOwn(assets, name) ? assets[name] : undefined;
      if (!asset) return false;
      const buf = body(name, asset);
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': buf.length,
        'cache-control': 'public, max-age=31536000, immutable',
        'x-content-type-options': 'nosniff',
      });
      res.end(buf);
      return true;
    }

    return false;
  };
}
