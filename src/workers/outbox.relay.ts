import type { Infra } from '../infra/infra.js';
import { listenPg, type PgListener } from '../infra/pg-listener.js';
import { publishJob, type NatsNames } from '../infra/nats.js';
import type { OutboxTopic } from '../services/messages/outbox.js';
import {
  claimOutboxRows,
  markOutboxPublished,
  nextOutboxClaimEnd,
  releaseOutboxClaim,
} from '../services/messages/outbox.repository.js';
import type { Worker } from './worker.js';

/** The channel the `outbox_notify` trigger (migration 2026-11-27) notifies when outbox rows commit. */
export const OUTBOX_CHANNEL = 'outbox';

/** Each outbox topic's JetStream subject. A topic missing here does not compile. */
const SUBJECTS: { [T in OutboxTopic]: (names: NatsNames) => string } = {
  notification: (names) => names.jobs.notification,
};
const TOPICS = Object.keys(SUBJECTS) as OutboxTopic[];

export interface OutboxRelayOptions {
  /** Rows per claim; default 300. */
  batchSize?: number;
  /** Fallback poll for a missed notify; default SWEEP_INTERVAL_MS. */
  pollIntervalMs?: number;
  /**
   * How long a claim keeps other relays off a batch while it is published; default 5 s. A relay
   * that dies or freezes mid-publish delays its rows by this much; one that is merely slow past it
   * lets another publish them too, and JetStream drops that copy by its message id.
   */
  claimMs?: number;
  /**
   * Test hook: runs after JetStream acknowledged a batch and before the rows are marked published.
   * Throwing there is a crash at the worst moment: the claim is given up and the batch published again.
   */
  afterPublish?: (rowIds: string[]) => Promise<void> | void;
}

/** Slack after a claim's end before looking again, so the lease has surely passed by Postgres' clock. */
const CLAIM_SLACK_MS = 50;

/**
 * Publishes committed outbox rows to JetStream and stamps them published. Any number of relays may
 * run. A relay claims a batch for a short lease (`claimed_until`, by Postgres' clock) in one short
 * statement, and holds no transaction or lock while it publishes: network I/O inside a transaction
 * would keep the rows locked for as long as a frozen relay stays frozen (or, with Postgres'
 * idle-in-transaction timeout, lose every publish slower than that timeout). Others skip claimed
 * rows and come back when the claim ends. A crash after publishing but before the stamp publishes
 * the rows again; their message id (`outbox-<row id>`) makes JetStream drop the copy within its
 * duplicate window, and consumers de-duplicate by their own ids after that. So a row is never lost
 * and rarely repeated.
 */
export async function startOutboxRelay(infra: Infra, options: OutboxRelayOptions = {}): Promise<Worker> {
  const { orm, nats, metrics, config } = infra;
  const log = infra.log.child({ worker: 'outbox-relay' });
  const batchSize = options.batchSize ?? 300;
  const claimMs = options.claimMs ?? 5000;

  async function relayBatch(): Promise<number> {
    const em = orm.em.fork();
    // Only topics this version knows: during a rolling deploy an older relay leaves a newer
    // topic's rows to a newer relay instead of dropping or blocking on them.
    const claimed = await claimOutboxRows(em, TOPICS, claimMs, batchSize);
    if (claimed.length === 0) return 0;
    const rows = claimed.toSorted((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    const ids = rows.map((r) => r.id);
    try {
      // Concurrent publishes, then wait for every ack: a row is marked only once JetStream has it.
      const acks = await Promise.all(
        rows.map((row) => publishJob(nats, SUBJECTS[row.subject](nats.names), row.payload, `outbox-${row.id}`)),
      );
      await options.afterPublish?.(ids);
      const marked = await markOutboxPublished(em, ids);
      for (const row of marked) {
        metrics.outboxPublished.inc({ topic: row.subject });
        metrics.outboxLag.observe(Math.max(0, Number(row.lag)));
      }
      const duplicates = acks.filter((a) => a.duplicate).length;
      if (duplicates > 0) log.info({ duplicates }, 'republished outbox rows were dropped as duplicates by JetStream');
    } catch (err) {
      // Give the claim up, so any relay may publish the rows at once; if this fails too, the claim just ends.
      await releaseOutboxClaim(em, ids).catch(() => undefined);
      throw err;
    }
    return rows.length;
  }

  /** How long until the first claim of another relay ends, if rows are waiting on one. */
  async function nextClaimEnd(): Promise<number | undefined> {
    return nextOutboxClaimEnd(orm.em.fork(), TOPICS);
  }

  /** Batch after batch until one comes back short: the backlog is gone (or claimed by another relay). */
  async function drain(): Promise<void> {
    while ((await relayBatch()) === batchSize && !stopped);
    // Rows another relay claimed are ours to try when the claim ends, should it not finish them.
    const wait = await nextClaimEnd();
    if (wait !== undefined && !stopped) {
      clearTimeout(claimTimer);
      claimTimer = setTimeout(wake, Math.max(0, wait) + CLAIM_SLACK_MS);
    }
  }

  // One loop; a notify, poll or claim end that arrives while it runs makes it go round once more.
  let stopped = false;
  let pending = true;
  let wakeLoop: (() => void) | undefined;
  let claimTimer: NodeJS.Timeout | undefined;
  const wake = () => {
    pending = true;
    wakeLoop?.();
  };

  const listener: PgListener = await listenPg(config.databaseUrl, OUTBOX_CHANNEL, wake, log);
  const poll = setInterval(wake, options.pollIntervalMs ?? config.sweepIntervalMs);

  const loop = (async () => {
    while (!stopped) {
      if (!pending) {
        await new Promise<void>((resolve) => (wakeLoop = resolve));
        wakeLoop = undefined;
        continue;
      }
      pending = false;
      try {
        await drain();
      } catch (err) {
        // NATS or Postgres is away: the rows stay unpublished and the next poll tries again.
        log.warn({ err }, 'outbox relay batch failed; will retry');
      }
    }
  })();

  return {
    name: 'outbox-relay',
    async stop() {
      stopped = true;
      clearInterval(poll);
      clearTimeout(claimTimer);
      wakeLoop?.();
      await loop;
      await listener.close();
    },
  };
}
