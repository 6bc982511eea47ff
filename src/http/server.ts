import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthMonitor } from '../infra/health.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { BodyTooLargeError } from './body.js';

/** A route answers the request and returns true, or returns false to let the next one try. */
export type Route = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface HttpServer {
  server: Server;
  port: number;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes every connection. */
  close(graceMs: number): Promise<void>;
}

export async function startHttpServer(opts: {
  port: number;
  routes: Route[];
  log: Logger;
  metrics: Metrics;
}): Promise<HttpServer> {
  const server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    void handle(req, res);
  });
  // Responses still being worked on. Once closing, they end their connection instead of keeping it
  // alive, so close() need not wait for idle keep-alive connections to time out.
  const open = new Set<ServerResponse>();
  let closing = false;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    open.add(res);
    res.on('close', () => open.delete(res));
    if (closing) res.shouldKeepAlive = false;
    const route = (req.url ?? '/').split('?')[0] ?? '/';
    res.on('finish', () => opts.metrics.httpRequests.inc({ route: knownRoute(route), status: res.statusCode }));
    try {
      for (const r of opts.routes) {
        const answered = r(req, res);
        if (answered === true || (answered !== false && (await answered))) return;
      }
      sendJson(res, 404, { error: 'not found' });
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        res.shouldKeepAlive = false; // the rest of the body is not read
        sendJson(res, 413, { error: err.message });
        return;
      }
      opts.log.error({ err, url: req.url, method: req.method }, 'unhandled error in an HTTP request');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal server error' });
      else res.destroy();
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    server,
    port,
    async close(graceMs) {
      closing = true;
      for (const res of open) res.shouldKeepAlive = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

/** Keeps metric label cardinality bounded: unknown paths are counted together. */
function knownRoute(path: string): string {
  return ['/graphql', '/healthz', '/readyz', '/metrics', '/webhooks/stripe'].includes(path) ? path : 'other';
}

export interface OperatorRouteOptions {
  /** Serve `/metrics` here: on the operator port, or on the API port when there is none. */
  metrics: boolean;
  /** `/readyz` adds each dependency's (redacted) error: only on the operator port. */
  detailedReadiness: boolean;
}

/**
 * `/healthz` (the process is up), `/readyz` (dependencies answer), `/metrics` (Prometheus). The
 * public `/readyz` names what is down but never a driver message, which can describe the network
 * behind the service.
 */
export function operatorRoutes(health: HealthMonitor, metrics: Metrics, options: OperatorRouteOptions): Route {
  // Synchronous for every other request: this route sits in front of /graphql on the hot path.
  return (req, res) => {
    if (req.method !== 'GET') return false;
    switch ((req.url ?? '/').split('?')[0] ?? '/') {
      case '/healthz':
        sendJson(res, 200, { status: 'ok' });
        return true;
      case '/readyz':
        return readiness(health, res, options.detailedReadiness);
      case '/metrics':
        return options.metrics && metricsPage(metrics, res);
      default:
        return false;
    }
  };
}

/**
 * 503 while a required dependency is down. An optional one (the read replica) that is down is
 * named in `degraded` and keeps the answer 200: its reads go to the primary, so a load balancer
 * must not take the gateway out of rotation for it.
 */
async function readiness(health: HealthMonitor, res: ServerResponse, detailed: boolean): Promise<true> {
  const report = await health.check();
  const down = health.down();
  const degraded = health.degraded();
  const status = down.length === 0 ? 'ready' : 'unavailable';
  const body = { status, down, ...(degraded.length > 0 ? { degraded } : {}) };
  sendJson(res, down.length === 0 ? 200 : 503, detailed ? { ...body, dependencies: report } : body);
  return true;
}

async function metricsPage(metrics: Metrics, res: ServerResponse): Promise<true> {
  res.writeHead(200, { 'content-type': metrics.registry.contentType });
  res.end(await metrics.registry.metrics());
  return true;
}
