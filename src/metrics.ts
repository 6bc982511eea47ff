import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
  const graphqlRequests = new Counter({
    name: 'graphql_http_requests_total',
    help: 'GraphQL requests over HTTP by the path that answered: compiled (the fast path), full (Apollo) or persisted (GET of a persisted document)',
    labelNames: ['path'] as const,
    registers: [registry],
  });
  const bookingAttempts = new Counter({
    name: 'booking_attempts_total',
    help: 'bookTicket attempts by where they were decided (gateway, worker) and outcome',
    labelNames: ['stage', 'outcome'] as const,
    registers: [registry],
  });
  const bookingDecisionSeconds = new Histogram({
    name: 'booking_decision_seconds',
    help: 'Time from a gateway accepting a booking attempt to a worker committing its decision',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const bookingBatchSize = new Histogram({
    name: 'booking_batch_size',
    help: 'Booking attempts decided per worker batch (one Redis call and one Postgres transaction)',
    buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
    registers: [registry],
  });
  const bookingQueuePending = new Gauge({
    name: 'booking_queue_pending',
    help: 'Booking attempts waiting in the JetStream consumer (not yet delivered to a worker)',
    registers: [registry],
  });
  const orderTransitions = new Counter({
    name: 'order_transitions_total',
    help: 'Orders entering a status (UNPAID = created), counted once per committed transition',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const paymentProviderCalls = new Counter({
    name: 'payment_provider_calls_total',
    help: 'Calls to the payment provider by provider, operation and outcome (success, error)',
    labelNames: ['provider', 'operation', 'outcome'] as const,
    registers: [registry],
  });
  const paymentProviderSeconds = new Histogram({
    name: 'payment_provider_call_seconds',
    help: 'Latency of calls to the payment provider, by provider and operation (retries included)',
    labelNames: ['provider', 'operation'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const paymentWebhooks = new Counter({
    name: 'payment_webhooks_total',
    help: 'Stripe webhook requests by result (accepted, duplicate, ignored, rejected) and event type',
    labelNames: ['result', 'type'] as const,
    registers: [registry],
  });
  const paymentEvents = new Counter({
    name: 'payment_events_applied_total',
    help: 'Provider events applied by the payment worker, by action and outcome',
    labelNames: ['action', 'outcome'] as const,
    registers: [registry],
  });
  const paymentEventMismatches = new Counter({
    name: 'payment_event_mismatches_total',
    help: 'Signed provider events refused because their amount or currency differs from the stored payment, by field',
    labelNames: ['field'] as const,
    registers: [registry],
  });
  const queueDeadLetters = new Counter({
    name: 'queue_dead_letters_total',
    help: 'Queue messages moved to the dead-letter stream, by consumer and cause (exhausted: failed every delivery; malformed; refused: terminated by the handler)',
    labelNames: ['consumer', 'cause'] as const,
    registers: [registry],
  });
  const queueStrandedMoved = new Counter({
    name: 'queue_stranded_moved_total',
    help: 'Queue messages found below their consumer ack floor (never to be delivered, after an unclean NATS restart) and published again, by consumer',
    labelNames: ['consumer'] as const,
    registers: [registry],
  });
  const wsSocketsOpen = new Gauge({
    name: 'ws_sockets_open',
    help: 'graphql-ws sockets open on this gateway',
    registers: [registry],
  });
  const wsOperationsOpen = new Gauge({
    name: 'ws_operations_open',
    help: 'Operations (mostly subscriptions) running on this gateway’s graphql-ws sockets',
    registers: [registry],
  });
  const wsTracked = new Gauge({
    name: 'ws_tracked_entries',
    help: 'Entries of the per-socket bookkeeping, by index (address, user, expiry_timer); all 0 with no socket open',
    labelNames: ['index'] as const,
    registers: [registry],
  });
  const wsRefused = new Counter({
    name: 'ws_refused_total',
    help: 'graphql-ws sockets and operations refused by a cap, by reason (address, user, operations)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const wsSessionsEnded = new Counter({
    name: 'ws_sessions_ended_total',
    help: 'graphql-ws sockets closed with 4403 because their token expired or was revoked, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const databaseReads = new Counter({
    name: 'database_reads_total',
    help: 'Reads that may be stale (browsing, search, order history), by the side that served them: replica, or primary and why',
    labelNames: ['side'] as const,
    registers: [registry],
  });
  return {
    registry,
    databaseReads,
    queueDeadLetters,
    queueStrandedMoved,
    wsSocketsOpen,
    wsOperationsOpen,
    wsTracked,
    wsRefused,
    wsSessionsEnded,
    httpRequests,
    graphqlErrors,
    graphqlRequests,
    bookingAttempts,
    bookingDecisionSeconds,
    bookingBatchSize,
    bookingQueuePending,
    notificationsCreated,
    pushes,
    outboxPublished,
    outboxLag,
    orderTransitions,
    paymentProviderCalls,
    paymentProviderSeconds,
    paymentWebhooks,
    paymentEvents,
    paymentEventMismatches,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
