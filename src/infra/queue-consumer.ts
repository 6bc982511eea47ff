import type { JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { describeError, type Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { ensureConsumer, type Nats } from './nats.js';

/** One queue message, decoded, with explicit settlement. */
export interface Job<T> {
  readonly data: T;
  readonly subject: string;
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  readonly settled: boolean;
  ack(): void;
  /**
   * Redeliver later (a passing fault, or a delayed job that is not due yet). On the message's last
   * allowed delivery it is dead-lettered instead; `cause` says why in the dead letter.
   */
  nak(delayMs?: number, cause?: unknown): void;
  /** Never redeliver (a poison message): it goes to the dead-letter stream with `reason`. */
  term(reason: string): void;
  /** Extends the ack deadline while a long job runs. */
  working(): void;
}

export interface ConsumerOptions<T> {
  nats: Nats;
  log: Logger;
  metrics: Metrics;
  stream: string;
  durable: string;
  filter?: string;
  /** How long a delivered message may stay unacknowledged before JetStream redelivers it. */
  ackWaitMs: number;
  /** Most messages handed to one `handle` call; batches form naturally while the previous one runs. */
  maxBatch: number;
  /** Deliveries a message gets before it is dead-lettered (QUEUE_MAX_DELIVER). */
  maxDeliver: number;
  /** Checks a decoded message; returning false dead-letters it as malformed. */
  isValid(data: unknown): data is T;
  /**
   * Handles a batch. Every job should be settled; any left unsettled (or all, if it throws) are
   * nak'ed, after `retryDelayMs` doubled per delivery (at most 30 s), so handlers must be idempotent.
   */
  handle(jobs: Job<T>[]): Promise<void>;
  /** First redelivery delay of a job left unsettled; default 1 s. */
  retryDelayMs?: number;
  /**
   * Runs before messages that failed every delivery are dead-lettered, so the domain can close
   * what they started (a booking attempt becomes a REJECTED decision). If it throws, nothing is
   * dead-lettered on this delivery: the messages get one more.
   */
  onDeadLetter?(data: T[]): Promise<void>;
}

export interface RunningConsumer {
  stop(): Promise<void>;
}

const MAX_RETRY_DELAY_MS = 30_000;

/** A job that the loop dead-letters once the batch it came in is over. */
interface Condemned<T> {
  msg: JsMsg;
  data?: T;
  /** exhausted: failed every delivery; malformed: not a message of this queue; refused: the handler terminated it. */
  cause: 'exhausted' | 'malformed' | 'refused';
  reason: string;
}

/**
 * A durable pull consumer run as a small loop: messages stream in, and whenever the handler is
 * free it takes everything buffered so far (up to `maxBatch`) as one batch. Under load batches
 * grow, which is what lets one Redis call and one Postgres transaction serve many messages.
 *
 * No message can stall it: one that fails `maxDeliver` deliveries (or is malformed, or that the
 * handler terminates) is copied to the namespace's dead-letter stream, with its subject, headers
 * and why, and terminated, with a counter and one log line. Exhaustion is seen here, from the
 * delivery count, rather than from JetStream's advisory: deterministic, and the domain can close
 * the message's work first (`onDeadLetter`). JetStream itself stops at `maxDeliver + 1`: that spare
 * delivery only comes when the process died during the last one (or could not dead-letter), and
 * is dead-lettered at once without running the handler again.
 */
export async function runConsumer<T>(opts: ConsumerOptions<T>): Promise<RunningConsumer> {
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const backoff = (deliveryCount: number) =>
    Math.min(MAX_RETRY_DELAY_MS, retryDelayMs * 2 ** Math.min(deliveryCount - 1, 16));
  await ensureConsumer(opts.nats, opts.stream, opts.durable, {
    ackWaitMs: opts.ackWaitMs,
    maxAckPending: opts.maxBatch * 4,
    maxDeliver: opts.maxDeliver + 1,
    ...(opts.filter ? { filter: opts.filter } : {}),
  });
  const consumer = await opts.nats.js.consumers.get(opts.stream, opts.durable);
  const messages = await consumer.consume({ max_messages: opts.maxBatch * 2 });

  const buffer: { msg: JsMsg; data: T }[] = [];
  let wake: (() => void) | undefined;
  let done = false;

  const deadLetter = async (condemned: Condemned<T>[]) => {
    const exhausted = condemned.flatMap((c) => (c.cause === 'exhausted' && c.data !== undefined ? [c.data] : []));
    try {
      if (opts.onDeadLetter && exhausted.length > 0) await opts.onDeadLetter(exhausted);
      await Promise.all(condemned.map((c) => copyToDeadLetters(opts, c)));
    } catch (err) {
      opts.log.error(
        { consumer: opts.durable, count: condemned.length, error: describeError(err) },
        "could not dead-letter messages; nak'ed for the spare delivery",
      );
      for (const c of condemned) c.msg.nak(retryDelayMs);
      return;
    }
    for (const c of condemned) {
      // No reason on the wire: NATS before 2.10 ignores a `+TERM` that carries one. It is in the dead letter.
      c.msg.term();
      opts.metrics.queueDeadLetters.inc({ consumer: opts.durable, cause: c.cause });
      // Subject and sequence name the message; its body stays in the dead-letter stream, out of the logs.
      opts.log.error(
        {
          consumer: opts.durable,
          stream: opts.stream,
          subject: c.msg.subject,
          seq: c.msg.seq,
          deliveries: c.msg.info.deliveryCount,
          reason: c.reason,
        },
        'queue message dead-lettered',
      );
    }
  };

  const pump = (async () => {
    for await (const msg of messages) {
      const data = decode(msg);
      if (opts.isValid(data)) buffer.push({ msg, data });
      else await deadLetter([{ msg, cause: 'malformed', reason: 'malformed message' }]);
      wake?.();
    }
    done = true;
    wake?.();
  })();

  const loop = (async () => {
    for (;;) {
      if (buffer.length === 0) {
        if (done) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const taken = buffer.splice(0, opts.maxBatch);
      const condemned: Condemned<T>[] = [];
      const batch: Job<T>[] = [];
      for (const { msg, data } of taken) {
        if (msg.info.deliveryCount > opts.maxDeliver) {
          condemned.push({ msg, data, cause: 'exhausted', reason: `delivered ${msg.info.deliveryCount} times` });
        } else {
          const condemn = (cause: Condemned<T>['cause'], reason: string) =>
            condemned.push({ msg, data, cause, reason });
          batch.push(toJob(msg, data, opts.maxDeliver, condemn));
        }
      }
      if (batch.length > 0) {
        let failure: unknown;
        try {
          await opts.handle(batch);
        } catch (err) {
          failure = err;
          opts.log.error({ consumer: opts.durable, size: batch.length, error: describeError(err) }, 'batch failed');
        }
        for (const job of batch) if (!job.settled) job.nak(backoff(job.deliveryCount), failure);
      }
      if (condemned.length > 0) await deadLetter(condemned);
    }
  })();

  return {
    async stop() {
      await messages.close();
      await pump;
      await loop;
    },
  };
}

function decode(msg: JsMsg): unknown {
  try {
    return msg.json();
  } catch {
    return undefined;
  }
}

/** The message as it was (body, subject, headers), plus why it was given up, under `Dead-Letter-*` headers. */
async function copyToDeadLetters<T>(opts: ConsumerOptions<T>, c: Condemned<T>): Promise<void> {
  const h = natsHeaders();
  for (const [key, values] of c.msg.headers ?? []) {
    // JetStream's own headers (message id, expectations) would act on the copy's publish.
    const name = key.toLowerCase().startsWith('nats-') ? `Dead-Letter-Original-${key}` : key;
    for (const value of values) h.append(name, value);
  }
  h.set('Dead-Letter-Subject', c.msg.subject);
  h.set('Dead-Letter-Stream', opts.stream);
  h.set('Dead-Letter-Sequence', String(c.msg.seq));
  h.set('Dead-Letter-Consumer', opts.durable);
  h.set('Dead-Letter-Deliveries', String(c.msg.info.deliveryCount));
  h.set('Dead-Letter-Reason', c.reason);
  // The stream sequence as message id: a second attempt (after a crash) is dropped as a duplicate.
  await opts.nats.js.publish(opts.nats.names.jobs.deadLetter(opts.durable), c.msg.data, {
    headers: h,
    msgID: `${opts.stream}:${c.msg.seq}`,
  });
}

function toJob<T>(
  msg: JsMsg,
  data: T,
  maxDeliver: number,
  condemn: (cause: 'exhausted' | 'refused', reason: string) => void,
): Job<T> {
  let settled = false;
  return {
    data,
    subject: msg.subject,
    deliveryCount: msg.info.deliveryCount,
    get settled() {
      return settled;
    },
    ack() {
      settled = true;
      msg.ack();
    },
    nak(delayMs, cause) {
      settled = true;
      if (msg.info.deliveryCount < maxDeliver) msg.nak(delayMs);
      else condemn('exhausted', cause === undefined ? 'failed on its last delivery' : describeError(cause));
    },
    term(reason) {
      settled = true;
      condemn('refused', reason);
    },
    working() {
      msg.working();
    },
  };
}
