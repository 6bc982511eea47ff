import type { JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { describeError, type Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { ensureConsumer, publishJob, type Nats } from './nats.js';
import { strandedMessageRepair } from './stranded-messages.js';

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
}

export interface ConsumerOptions<T> {
  nats: Nats;
  log: Logger;
  metrics: Metrics;
  stream: string;
  durable: string;
  filter?: string;
  /**
   * How long a delivered message may go unacknowledged before JetStream redelivers it. Every
   * message this process holds is heartbeated (`working`) five times per ack wait, so a long job is
   * never redelivered while its process lives; a crashed or frozen process's messages come back
   * after this long (QUEUE_ACK_WAIT_MS).
   */
  ackWaitMs: number;
  /** Most messages handed to one `handle` call; batches form naturally while the previous one runs. */
  maxBatch: number;
  /** Most messages this process holds unsettled (handled and buffered); default 2 × maxBatch. */
  maxInFlight?: number;
  /**
   * Unsettled messages of the consumer across every process (JetStream's max_ack_pending);
   * default 10,000. Messages nak'ed with a delay count until they are redelivered.
   */
  maxAckPending?: number;
  /** How often to look for messages the stream holds but the consumer will never deliver; default 5 s. */
  strandedCheckMs?: number;
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
/** How long one fetch waits for messages before the next (which asks for whatever room there is then). */
const FETCH_EXPIRES_MS = 2000;
/** Pause before fetching again after a fetch failed (NATS away). */
const FETCH_RETRY_MS = 500;
/** How often each consumer looks for messages its stream holds but will never deliver. */
const STRANDED_CHECK_MS = 5000;

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
 * A crash costs seconds, not minutes: the ack wait is short and every message the process holds is
 * heartbeated, so only a dead or frozen process's messages are redelivered, and it holds at most
 * `maxInFlight` of them. Messages the stream keeps but the consumer will never deliver (after an
 * unclean NATS restart) are found and queued again (stranded-messages.ts).
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
  const maxInFlight = opts.maxInFlight ?? opts.maxBatch * 2;
  const backoff = (deliveryCount: number) =>
    Math.min(MAX_RETRY_DELAY_MS, retryDelayMs * 2 ** Math.min(deliveryCount - 1, 16));
  const ensure = () =>
    ensureConsumer(opts.nats, opts.stream, opts.durable, {
      ackWaitMs: opts.ackWaitMs,
      maxDeliver: opts.maxDeliver + 1,
      ...(opts.maxAckPending ? { maxAckPending: opts.maxAckPending } : {}),
      ...(opts.filter ? { filter: opts.filter } : {}),
    });
  await ensure();
  const consumer = await opts.nats.js.consumers.get(opts.stream, opts.durable);

  // Every message fetched and not yet settled: the handler's and the buffer's. They are ours until
  // settled, so they are heartbeated; and their number is what bounds the fetching.
  const held = new Set<JsMsg>();
  let capacityFreed: (() => void) | undefined;
  const release = (msg: JsMsg) => {
    held.delete(msg);
    capacityFreed?.();
  };
  const heartbeat = setInterval(() => {
    for (const msg of held) msg.working();
  }, opts.ackWaitMs / 5);

  const buffer: { msg: JsMsg; data: T }[] = [];
  let wake: (() => void) | undefined;
  let stopping = false;
  let done = false;
  let fetching: { stop(): void } | undefined;
  let pause: { timer: NodeJS.Timeout; resolve: () => void } | undefined;

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
      for (const c of condemned) {
        c.msg.nak(retryDelayMs);
        release(c.msg);
      }
      return;
    }
    for (const c of condemned) {
      // No reason on the wire: NATS before 2.10 ignores a `+TERM` that carries one. It is in the dead letter.
      c.msg.term();
      release(c.msg);
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

  /**
   * Fetches only as many messages as there is room for, so a process never holds more than
   * `maxInFlight`: what a crashed one held is all that waits for the ack wait, and a busy one does
   * not sit on messages an idle one could handle.
   */
  const rest = () =>
    new Promise<void>((resolve) => (pause = { timer: setTimeout(resolve, FETCH_RETRY_MS), resolve })).then(
      () => (pause = undefined),
    );

  const pump = (async () => {
    while (!stopping) {
      if (held.size >= maxInFlight) {
        await new Promise<void>((resolve) => (capacityFreed = resolve));
        capacityFreed = undefined;
        continue;
      }
      const started = Date.now();
      let fetched = 0;
      try {
        const messages = await consumer.fetch({ max_messages: maxInFlight - held.size, expires: FETCH_EXPIRES_MS });
        fetching = messages;
        if (stopping) messages.stop();
        for await (const msg of messages) {
          fetched += 1;
          held.add(msg);
          const data = decode(msg);
          if (opts.isValid(data)) buffer.push({ msg, data });
          else await deadLetter([{ msg, cause: 'malformed', reason: 'malformed message' }]);
          wake?.();
        }
      } catch (err) {
        if (stopping) break;
        // NATS is away, or restarted without the consumer: wait a little, then make sure it exists.
        opts.log.warn({ consumer: opts.durable, error: describeError(err) }, 'fetch failed; will retry');
        await rest();
        await ensure().catch(() => undefined);
        continue;
      } finally {
        fetching = undefined;
      }
      // A fetch that ends at once with nothing (the server turned it away) must not become a busy loop.
      if (fetched === 0 && Date.now() - started < FETCH_RETRY_MS && !stopping) await rest();
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
          batch.push(toJob(msg, data, opts.maxDeliver, condemn, release));
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

  const stranded = strandedMessageRepair(opts);
  let checking: Promise<unknown> = Promise.resolve();
  const strandedCheck = setInterval(() => {
    checking = stranded.check().catch((err: unknown) => {
      opts.log.warn({ consumer: opts.durable, error: describeError(err) }, 'stranded-message check failed');
    });
  }, opts.strandedCheckMs ?? STRANDED_CHECK_MS);

  return {
    async stop() {
      stopping = true;
      clearInterval(strandedCheck);
      fetching?.stop();
      capacityFreed?.();
      if (pause) {
        clearTimeout(pause.timer);
        pause.resolve();
      }
      await pump;
      await loop;
      clearInterval(heartbeat);
      await checking;
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
  await publishJob(
    opts.nats,
    opts.nats.names.jobs.deadLetter(opts.durable),
    c.msg.data,
    `${opts.stream}:${c.msg.seq}`,
    h,
  );
}

function toJob<T>(
  msg: JsMsg,
  data: T,
  maxDeliver: number,
  condemn: (cause: 'exhausted' | 'refused', reason: string) => void,
  release: (msg: JsMsg) => void,
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
      release(msg);
    },
    nak(delayMs, cause) {
      settled = true;
      if (msg.info.deliveryCount < maxDeliver) {
        msg.nak(delayMs);
        release(msg);
      } else condemn('exhausted', cause === undefined ? 'failed on its last delivery' : describeError(cause));
    },
    term(reason) {
      settled = true;
      condemn('refused', reason);
    },
  };
}
