import type { JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../logger.js';
import { ensureConsumer, type Nats } from './nats.js';

/** One queue message, decoded, with explicit settlement. */
export interface Job<T> {
  readonly data: T;
  readonly subject: string;
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  readonly settled: boolean;
  ack(): void;
  /** Redeliver later (a passing fault, or a delayed job that is not due yet). */
  nak(delayMs?: number): void;
  /** Never redeliver (a poison message). */
  term(reason: string): void;
  /** Extends the ack deadline while a long job runs. */
  working(): void;
}

export interface ConsumerOptions<T> {
  nats: Nats;
  log: Logger;
  stream: string;
  durable: string;
  filter?: string;
  /** How long a delivered message may stay unacknowledged before JetStream redelivers it. */
  ackWaitMs: number;
  /** Most messages handed to one `handle` call; batches form naturally while the previous one runs. */
  maxBatch: number;
  /** Checks a decoded message; returning false terminates it as poison. */
  isValid(data: unknown): data is T;
  /**
   * Handles a batch. Every job should be settled; any left unsettled (or all, if it throws) are
   * nak'ed with `retryDelayMs`, so handlers must be idempotent.
   */
  handle(jobs: Job<T>[]): Promise<void>;
  retryDelayMs?: number;
}

export interface RunningConsumer {
  stop(): Promise<void>;
}

/**
 * A durable pull consumer run as a small loop: messages stream in, and whenever the handler is
 * free it takes everything buffered so far (up to `maxBatch`) as one batch. Under load batches
 * grow, which is what lets one Redis call and one Postgres transaction serve many messages.
 */
export async function runConsumer<T>(opts: ConsumerOptions<T>): Promise<RunningConsumer> {
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  await ensureConsumer(opts.nats, opts.stream, opts.durable, {
    ackWaitMs: opts.ackWaitMs,
    maxAckPending: opts.maxBatch * 4,
    ...(opts.filter ? { filter: opts.filter } : {}),
  });
  const consumer = await opts.nats.js.consumers.get(opts.stream, opts.durable);
  const messages = await consumer.consume({ max_messages: opts.maxBatch * 2 });

  const buffer: Job<T>[] = [];
  let wake: (() => void) | undefined;
  let done = false;

  const pump = (async () => {
    for await (const msg of messages) {
      const job = toJob<T>(msg, opts);
      if (job) buffer.push(job);
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
      const batch = buffer.splice(0, opts.maxBatch);
      try {
        await opts.handle(batch);
      } catch (err) {
        opts.log.error({ err, consumer: opts.durable, size: batch.length }, 'batch failed; will be redelivered');
      }
      for (const job of batch) if (!job.settled) job.nak(retryDelayMs);
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

function toJob<T>(msg: JsMsg, opts: ConsumerOptions<T>): Job<T> | undefined {
  let data: unknown;
  try {
    data = msg.json();
  } catch {
    data = undefined;
  }
  if (!opts.isValid(data)) {
    opts.log.error({ subject: msg.subject, seq: msg.seq, body: msg.string().slice(0, 200) }, 'poison message dropped');
    msg.term('malformed message');
    return undefined;
  }
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
    nak(delayMs) {
      settled = true;
      msg.nak(delayMs);
    },
    term(reason) {
      settled = true;
      msg.term(reason);
    },
    working() {
      msg.working();
    },
  };
}
