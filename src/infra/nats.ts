import { connect, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
  type StreamConfig,
} from '@nats-io/jetstream';
import { StartupError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * Every subject and stream name, derived from the namespace so that several deployments (or test
 * files) can share one NATS server without seeing each other's messages.
 */
export function natsNames(namespace: string) {
  const ns = namespace;
  const NS = namespace.toUpperCase();
  return {
    streams: {
      bookings: `${NS}_BOOKINGS`,
      expiry: `${NS}_EXPIRY`,
      payments: `${NS}_PAYMENTS`,
      notifications: `${NS}_NOTIFICATIONS`,
      /** What a consumer gave up on (see queue-consumer.ts): kept for operators, consumed by nothing. */
      deadLetters: `${NS}_DEAD_LETTERS`,
    },
    /** Durable JetStream subjects: work that must not be lost. */
    jobs: {
      bookingRequested: (eventId: string) => `${ns}.booking.requested.${eventId}`,
      allBookingRequests: `${ns}.booking.requested.>`,
      holdExpiry: `${ns}.expiry.hold`,
      paymentEvent: (type: string) => `${ns}.payment.${type}`,
      allPaymentEvents: `${ns}.payment.>`,
      notification: `${ns}.notification.deliver`,
      /** A dead-lettered message's copy, by the durable consumer that gave up on it. */
      deadLetter: (durable: string) => `${ns}.dead-letter.${durable}`,
      allDeadLetters: `${ns}.dead-letter.>`,
    },
    /** Prefix of core NATS subjects for live fan-out to gateways (see live-bus.ts). */
    livePrefix: `${ns}.live`,
  };
}
export type NatsNames = ReturnType<typeof natsNames>;

export interface Nats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: NatsNames;
  close(): Promise<void>;
}

const SECOND_NS = 1_000_000_000;

/** The servers of a NATS_URL: one, or several of a cluster separated by commas. */
export function natsServers(url: string): string[] {
  return url.split(',').map((s) => s.trim());
}

export async function openNats(url: string, namespace: string, log: Logger, replicas = 1): Promise<Nats> {
  const nc = await connect({
    servers: natsServers(url),
    name: `${namespace}-${process.pid}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // Otherwise every request and publish builds an Error for its stack trace, even when it succeeds.
    noAsyncTraces: true,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error')
        log.warn({ nats: s.type }, 'nats status');
    }
  })();
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    // The class is not exported by @nats-io/jetstream; its name is set for this check.
    if (!(err instanceof Error && err.name === 'JetStreamNotEnabled')) throw err;
    await nc.close();
    throw new StartupError(
      `NATS at ${url} has JetStream off, and the booking pipeline keeps its work in JetStream streams. ` +
        "Run nats-server with -js (Debian's nats-server package starts it without), or point NATS_URL at one that has it.",
      { cause: err },
    );
  }
  const names = natsNames(namespace);
  await ensureStreams(jsm, names, replicas);
  return {
    nc,
    js: jetstream(nc),
    jsm,
    names,
    close: async () => {
      await nc.drain().catch(() => nc.close());
    },
  };
}

/**
 * Work-queue streams: a message is removed once a consumer acknowledges it. The duplicate window
 * lets publishers retry with the same message id without creating a second job. The dead-letter
 * stream keeps its messages (limits retention) for two weeks, for an operator to look at.
 */
async function ensureStreams(jsm: JetStreamManager, names: NatsNames, replicas: number): Promise<void> {
  const common: Partial<StreamConfig> = {
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: 120 * SECOND_NS,
    // On a cluster, a stream acknowledges a publish once a majority of its replicas stored it.
    num_replicas: replicas,
  };
  const streams: Partial<StreamConfig>[] = [
    { name: names.streams.bookings, subjects: [names.jobs.allBookingRequests], max_age: 3600 * SECOND_NS },
    { name: names.streams.expiry, subjects: [names.jobs.holdExpiry], max_age: 24 * 3600 * SECOND_NS },
    { name: names.streams.payments, subjects: [names.jobs.allPaymentEvents], max_age: 7 * 24 * 3600 * SECOND_NS },
    { name: names.streams.notifications, subjects: [names.jobs.notification], max_age: 24 * 3600 * SECOND_NS },
    {
      name: names.streams.deadLetters,
      subjects: [names.jobs.allDeadLetters],
      retention: RetentionPolicy.Limits,
      max_age: 14 * 24 * 3600 * SECOND_NS,
    },
  ];
  for (const config of streams) {
    const full = { ...common, ...config } as StreamConfig;
    try {
      await jsm.streams.info(full.name);
      await jsm.streams.update(full.name, full);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await jsm.streams.add(full);
      } catch (addErr) {
        // Another process created it in between.
        if (!String(addErr).includes('already in use')) throw addErr;
      }
    }
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message);
}

/**
 * A durable pull consumer with explicit acks, created or updated to this configuration.
 * `maxDeliver` is required: an unbounded one lets a single bad message be redelivered forever.
 */
export async function ensureConsumer(
  nats: Nats,
  stream: string,
  durable: string,
  opts: { filter?: string; ackWaitMs: number; maxDeliver: number; maxAckPending?: number },
): Promise<void> {
  await nats.jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: opts.ackWaitMs * 1_000_000,
    max_deliver: opts.maxDeliver,
    max_ack_pending: opts.maxAckPending ?? 10_000,
    ...(opts.filter ? { filter_subject: opts.filter } : {}),
  });
}

/**
 * The one way a job enters a JetStream stream. `msgId` is required: JetStream drops a copy with
 * an id it saw within the duplicate window, which is what makes every publisher's retry safe.
 * `body` is JSON-encoded unless it is already bytes (a message moved as it was stored).
 */
export function publishJob(
  nats: Pick<Nats, 'js'>,
  subject: string,
  body: unknown,
  msgId: string,
  headers?: MsgHdrs,
): Promise<PubAck> {
  const data = body instanceof Uint8Array ? body : JSON.stringify(body);
  return nats.js.publish(subject, data, { msgID: msgId, ...(headers ? { headers } : {}) });
}
