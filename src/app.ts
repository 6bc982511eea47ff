import 'reflect-metadata';
import type { Config } from './config.js';
import type { AuthUser } from './context.js';
import type { EntityManager } from './infra/database.js';
import { closeInfra, openInfra, type Infra } from './infra/infra.js';
import { createGraphiqlHandler } from './http/graphiql.js';
import { createGraphqlEndpoint, type GraphqlEndpoint } from './http/graphql.js';
import { operatorRoutes, startHttpServer, type HttpServer, type Route } from './http/server.js';
import { stripeWebhookRoute } from './http/stripe-webhook.route.js';
import { defaultWebAppDir, webAppRoute } from './http/web-app.route.js';
import { createLogger, type Logger } from './logger.js';
import { buildAppSchema } from './http/build-schema.js';
import { createServices, type Services } from './services/index.js';
import { createLoaders, type Loaders } from './services/shared/loaders.js';
import type { LiveFeeds, SubscriptionContext } from './services/live-feeds.js';
import { startWorkers } from './workers/index.js';
import type { Worker } from './workers/worker.js';

export interface App {
  config: Config;
  infra: Infra;
  services: Services;
  /** The HTTP port actually listened on (useful with PORT=0). */
  port: number;
  url: string;
  /** The operator port actually listened on, when OPS_PORT is set. */
  opsPort: number | undefined;
  stop(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Starts one process of the system in its ROLE, a list of services: `gateway` serves GraphQL,
 * webhooks and live updates; booking, payments, notifications, expiry and sweeps run their workers
 * (see workers/index.ts); `worker` is every one but the gateway, `all` every one. Every role serves
 * `/healthz`, `/readyz` and `/metrics`; with OPS_PORT, `/metrics` and the detailed `/readyz` move
 * to a second server on that port.
 */
export async function startApp(
  config: Config,
  log: Logger = createLogger(config.logLevel, { role: config.role }),
): Promise<App> {
  const infra = await openInfra(config, log);
  const services = createServices(infra);
  const gateway = config.services.has('gateway');

  let graphql: GraphqlEndpoint | undefined;
  const opsPort = config.opsPort;
  const routes: Route[] = [
    operatorRoutes(infra.health, infra.metrics, { metrics: opsPort === undefined, detailedReadiness: false }),
  ];
  if (gateway) {
    graphql = await createGraphqlEndpoint({
      schema: await buildAppSchema(services),
      log,
      metrics: infra.metrics,
      production: config.production,
      introspection: config.introspection,
      trustedProxies: config.trustedProxies,
      authenticate: (authorization) => services.sessions.authenticate(authorization),
      webSocketLimits: config.webSocket,
      onSessionRevoked: (listener) => services.sessions.onRevoked(listener),
      createContext: (user, clientAddress) => createRequestContext({ infra, services }, user, clientAddress),
    });
    if (config.graphiql) {
      const graphiql = createGraphiqlHandler({ endpoint: '/graphql' });
      routes.push((req, res) => graphiql(req, res));
    }
    const endpoint = graphql;
    routes.push(async (req, res) => {
      if (req.url?.split('?')[0] !== '/graphql') return false;
      await endpoint.handleHttp(req, res);
      return true;
    });
    routes.push(
      stripeWebhookRoute({
        secret: config.payments.webhookSecret,
        orm: infra.orm,
        nats: infra.nats,
        metrics: infra.metrics,
        log,
      }),
    );
    // Last: every path the API does not answer may be one of the app's client routes.
    routes.push(
      webAppRoute({
        dir: defaultWebAppDir(),
        settings: {
          paymentProvider: config.payments.provider,
          stripePublishableKey: config.payments.stripePublishableKey,
        },
      }),
    );
  }

  if (gateway)
    for (const topic of ['stock', 'decisions', 'order', 'notification', 'waitingRoom'] as const)
      infra.live.receive(topic);
  if (gateway) await services.sessions.start();
  const workers: Worker[] = await startWorkers(infra, services, config.services);
  const http: HttpServer = await startHttpServer({ port: config.port, routes, log, metrics: infra.metrics });
  const ops: HttpServer | undefined =
    opsPort === undefined
      ? undefined
      : await startHttpServer({
          port: opsPort,
          routes: [operatorRoutes(infra.health, infra.metrics, { metrics: true, detailedReadiness: true })],
          log,
          metrics: infra.metrics,
        });
  graphql?.attachWebSocket(http.server);
  services.paymentGateway.listeningOn(http.port);
  infra.health.start();
  log.info(
    {
      port: http.port,
      opsPort: ops?.port,
      role: config.role,
      paymentProvider: config.payments.provider,
      pushProvider: config.push.provider,
      graphiql: gateway && config.graphiql,
      introspection: gateway && config.introspection,
      ephemeralJwtSecret: config.auth.jwtSecretIsEphemeral,
    },
    `started: payments ${config.payments.provider}, push ${config.push.provider}`,
  );
  if (config.payments.simulatedInProduction) {
    log.warn(
      'the simulated payment provider runs in production (ALLOW_SIMULATED_PAYMENTS=true): simulatePayment pays any order',
    );
  }
  if (config.production && ops === undefined) {
    log.warn('OPS_PORT is not set: /metrics is served on the public port; set OPS_PORT in production');
  }

  let stopping: Promise<void> | undefined;
  return {
    config,
    infra,
    services,
    port: http.port,
    url: `http://127.0.0.1:${http.port}`,
    opsPort: ops?.port,
    stop() {
      stopping ??= (async () => {
        log.info('stopping');
        infra.health.stop();
        // Stop taking requests first, then let every worker finish its batch, then disconnect.
        await Promise.all([http.close(SHUTDOWN_GRACE_MS), graphql?.stop()]);
        // Last of the servers: readiness and metrics stay visible while the API drains.
        await ops?.close(SHUTDOWN_GRACE_MS);
        await Promise.all(workers.map((w) => w.stop()));
        await services.sessions.stop();
        await closeInfra(infra);
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

/** The same context for HTTP requests and graphql-ws operations. */
export function createRequestContext(
  app: { infra: Infra; services: Services },
  user: AuthUser | null,
  clientAddress: string,
): SubscriptionContext {
  return new LazyRequestContext(app, user, clientAddress);
}

/**
 * The EntityManager fork and the loaders are made on first use: most hot-path operations (a
 * sold-out bookTicket, a cached event page) touch neither. A class, not an object literal with
 * getters, so V8 builds one shape for every request instead of fresh closures per request.
 */
class LazyRequestContext implements SubscriptionContext {
  private forked: EntityManager | undefined;
  private batched: Loaders | undefined;
  readonly feeds: LiveFeeds;

  constructor(
    private readonly app: { infra: Infra; services: Services },
    readonly user: AuthUser | null,
    readonly clientAddress: string,
  ) {
    this.feeds = app.services.feeds;
  }

  get em(): EntityManager {
    return (this.forked ??= this.app.infra.orm.em.fork());
  }

  get loaders(): Loaders {
    return (this.batched ??= createLoaders(() => this.em));
  }
}
