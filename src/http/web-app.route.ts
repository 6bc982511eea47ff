import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { projectPath } from '../project-path.js';
import { entityTag, matchesEntityTag } from './entity-tag.js';
import type { Route } from './server.js';

/**
 * The buyer and operator web app (web/, built by Vite into dist/web) on `GET /`: its files from
 * disk, `index.html` for every client route, and `/app-config.json` with the few settings the app
 * needs at run time. The app talks only to this origin (GraphQL over HTTP and graphql-ws).
 */

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Where `npm run build` puts the app. */
export function defaultWebAppDir(): string {
  return projectPath('dist/web/');
}

export interface WebAppSettings {
  paymentProvider: 'simulated' | 'stripe';
  /** Only with the stripe provider: the app then loads Stripe.js from Stripe and shows its Payment Element. */
  stripePublishableKey: string | undefined;
}

interface File {
  body: Buffer;
  type: string;
  etag: string;
}

/** Paths that belong to the API, never to the app's client routes. */
const API_PREFIXES = ['/graphql', '/webhooks/', '/healthz', '/readyz', '/metrics'];

function csp(stripe: boolean): string {
  const js = stripe ? ' https://js.stripe.com' : '';
  return [
    "default-src 'none'",
    `script-src 'self'${js}`,
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${stripe ? ' https://api.stripe.com' : ''}`, // CSP3: 'self' covers ws:/wss: to this host
    `frame-src${stripe ? ' https://js.stripe.com https://hooks.stripe.com' : " 'none'"}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Reads every file once at start: the app is a few hundred kilobytes and never changes while running. */
function loadFiles(dir: string): Map<string, File> {
  const files = new Map<string, File>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const body = readFileSync(path);
        const urlPath = '/' + relative(dir, path).split(sep).join('/');
        const type = CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
        files.set(urlPath, {
          body,
          type,
          etag: entityTag(body),
        });
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return files;
}

export function webAppRoute(opts: { dir: string; settings: WebAppSettings }): Route {
  const files = loadFiles(opts.dir);
  const index = files.get('/index.html');
  const stripe = opts.settings.paymentProvider === 'stripe' && opts.settings.stripePublishableKey !== undefined;
  const settings = Buffer.from(
    JSON.stringify({
      paymentProvider: opts.settings.paymentProvider,
      stripePublishableKey: stripe ? opts.settings.stripePublishableKey : null,
    }),
  );
  const common = {
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-security-policy': csp(stripe),
  };

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (API_PREFIXES.some((p) => pathname === p || pathname.startsWith(p.endsWith('/') ? p : `${p}/`))) return false;

    const send = (status: number, body: Buffer, headers: Record<string, string>) => {
      res.writeHead(status, { ...common, ...headers, 'content-length': String(body.length) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    };

    if (pathname === '/app-config.json') {
      return send(200, settings, { 'content-type': CONTENT_TYPES['.json']!, 'cache-control': 'no-cache' });
    }
    if (!index) {
      if (pathname !== '/') return false;
      return send(503, Buffer.from('The web app is not built: run `npm run build`.\n'), {
        'content-type': CONTENT_TYPES['.txt']!,
        'cache-control': 'no-store',
      });
    }

    const file = pathname === '/' ? index : files.get(pathname);
    if (file && file !== index) {
      // Vite names everything under /assets/ by its content hash, so those never change.
      const hashed = pathname.startsWith('/assets/');
      if (matchesEntityTag(req.headers['if-none-match'], file.etag))
        return send(304, Buffer.alloc(0), { etag: file.etag });
      return send(200, file.body, {
        'content-type': file.type,
        etag: file.etag,
        'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'public, max-age=0, must-revalidate',
      });
    }
    // A browser opening a client route (/events/…, /orders, /admin) gets the app; a missing asset,
    // and any other client asking for an unknown route, stays the server's JSON 404 (as
    // connect-history-api-fallback decides: only a request that accepts HTML is a page load).
    if (!file && (extname(pathname) !== '' || pathname.startsWith('/assets/'))) return false;
    if (!file && !acceptsHtml(req.headers.accept)) return false;
    return send(200, index.body, { 'content-type': index.type, 'cache-control': 'no-cache', etag: index.etag });
  };
}

function acceptsHtml(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept);
}
