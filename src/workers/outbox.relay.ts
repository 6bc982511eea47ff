import type { Infra } from '../app.js';
import { listenPg, type PgListener } from '../infra/pg-listener.js';
import type { NatsNames } from '../infra/nats.js';
import type { OutboxTopic } from '../services/outbox.js';
import type { Worker } from './index.js';

/** The channel the `outbox_notify` trigger (migration 2026-11-27) notifies when outbox rows commit. */
export const OUTBOX_CHANNEL = 'outbox';

/** Each outbox topic's JetStream subject. A topic missing here does not compile. */
const SUBJECTS: { [T in OutboxTopic]: (names: NatsNames) => string } = {
  notification: (names) => names.jobs.notification,
};
const TOPICS = Object.keys(SUBJECTS) as OutboxTopic[];

export interface OutboxRelayOptions {
  /** Rows per transaction; default 300. */
  batchSize?: number;
  /** Fallback poll for a missed notify; default SWEEP_INTERVAL_MS. */
  pollIntervalMs?: number;
  /**
   * Test hook: runs after JetStream acknowledged a batch and before the rows are marked published.
   * Throwing there is a crash at the worst moment: the batch is rolled back and published again.
   */
  afterPublish?: (rowIds: string[]) => Promise<void> | void;
}

interface OutboxRow {
  id: string;
  subject: OutboxTopic;
  payload: Record<string, unknown>;
}

/**
 * Publishes committed outbox rows to JetStream and stamps them published. Any number of relays may
 * run: each batch locks its rows (`for update skip locked`), so two relays never publish the same
 * row at once. A crash after publishing but before the commit publishes the rows again; their
 * message id (`outbox-<row id>`) makes JetStream drop the copy within its duplicate window, and
 * consumers de-duplicate by their own ids after that. So a row is never lost and rarely repeated.
 */
export async function startOutboxRelay(infra: Infra, options: OutboxRelayOptions = {}): Promise<Worker> {
  const { orm, nats, metrics, config } = infra;
  const log = infra.log.child({ worker: 'outbox-relay' });
  const batchSize = options.batchSize ?? 300;

  async function relayBatch(): Promise<number> {
    return orm.em.fork().transactional(async (em) => {
      // Only topics this version knows: during a rolling deploy an older relay leaves a newer
      // topic's rows to a newer relay instead of dropping or blocking on them.
      const rows = await em.execute<OutboxRow[]>(
        `select id, subject, payload from outbox
         where published_at is null and subject in (?)
         order by id
         limit ?
         for update skip locked`,
        [TOPICS, batchSize],
      );
      if (rows.length === 0) return 0;
      // Concurrent publishes, then wait for every ack: a row is marked only once JetStream has it.
      const acks = await Promise.all(
        rows.map((row) =>
          nats.js.publish(SUBJECTS[row.subject](nats.names), JSON.stringify(row.payload), {
            msgID: `outbox-${row.id}`,
          }),
        ),
      );
      const ids = rows.map((r) => r.id);
      await options.afterPublish?.(ids);
      const marked = await em.execute<{ subject: string; lag: number }[]>(
        `update outbox set published_at = now() where id in (?)
         returning subject, extract(epoch from clock_timestamp() - created_at)::float8 as lag`,
        [ids],
      );
      for (const row of marked) {
        metrics.outboxPublished.inc({ topic: row.subject });
        metrics.outboxLag.observe(Math.max(0, Number(row.lag)));
      }
      const duplicates = acks.filter((a) => a.duplicate).length;
      if (duplicates > 0) log.info({ duplicates }, 'republished outbox rows were dropped as duplicates by JetStream');
      return rows.length;
    });
  }

  /** Batch after batch until one comes back short: the backlog is gone (or locked by another relay). */
  async function drain(): Promise<void> {
    while ((await relayBatch()) === batchSize && !stopped);
  }

  // One loop; a notify or poll that arrives while it runs makes it go round once more.
  let stopped = false;
  let pending = true;
  let wakeLoop: (() => void) | undefined;
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
      wakeLoop?.();
      await loop;
      await listener.close();
    },
  };
}
