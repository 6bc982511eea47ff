import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one process. A registry per app instance (not the global one), so several
 * instances can live in one test process.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const graphqlErrors = new Counter({
    name: 'graphql_errors_total',
    help: 'GraphQL errors returned to clients, by code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const notificationsCreated = new Counter({
    name: 'notifications_created_total',
    help: 'Notifications written to an inbox (redeliveries of the same one not counted), by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const pushes = new Counter({
    name: 'push_deliveries_total',
    help: 'Mobile pushes attempted, by provider and outcome (sent, invalid_token, failed, gave_up)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry],
  });
  const outboxPublished = new Counter({
    name: 'outbox_published_total',
    help: 'Outbox rows published to JetStream by the relay, by topic',
    labelNames: ['topic'] as const,
    registers: [registry],
  });
  const outboxLag = new Histogram({
    name: 'outbox_relay_lag_seconds',
    help: 'Time from an outbox row being written to its publish being acknowledged by JetStream',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  return { registry, httpRequests, graphqlErrors, notificationsCreated, pushes, outboxPublished, outboxLag };
}

export type Metrics = ReturnType<typeof createMetrics>;
