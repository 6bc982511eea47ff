import type { MsgRequest, StoredMsg } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { publishJob, type Nats } from './nats.js';

/** Most stranded messages moved in one round; the next round takes the rest. */
const MAX_PER_ROUND = 500;

/**
 * Finds and re-queues messages of a work-queue stream that its durable consumer will never deliver.
 *
 * After an unclean stop (kill -9, power loss) nats-server can restart with the consumer's ack floor
 * ahead of what the stream holds: the stream lost its unflushed tail, or its own state, while the
 * consumer kept its (nats-server issues #3996, #5412). Messages at or below the ack floor then stay
 * in the stream, and so do new ones that get reused sequence numbers: the consumer counts them as
 * acknowledged. In a work-queue stream every message at or below the floor should be gone, so one
 * still there is stranded.
 *
 * A stranded message is published again (same subject, body and headers; a new sequence, above the
 * floor, so the consumer delivers it) and the original deleted. Handlers are idempotent, so the only
 * cost of a mistake is one more delivery; still, a message is moved only when two rounds in a row
 * find it below the floor, because an ack moves the floor a moment before the stream removes the
 * message. The copy's message id is derived from the original's sequence and time, so processes
 * that repair at once publish one copy.
 */
export function strandedMessageRepair(opts: {
  nats: Nats;
  log: Logger;
  metrics: Metrics;
  stream: string;
  durable: string;
  filter?: string;
}): { check(): Promise<number> } {
  const { nats, stream, durable } = opts;
  let suspects = new Set<string>();

  async function move(msg: StoredMsg): Promise<void> {
    const h = natsHeaders();
    for (const [key, values] of msg.header ?? []) {
      // The original's message id would make JetStream drop the copy as a duplicate.
      if (key.toLowerCase().startsWith('nats-')) continue;
      for (const value of values) h.append(key, value);
    }
    await publishJob(nats, msg.subject, msg.data, `stranded:${stream}:${msg.seq}:${msg.time.getTime()}`, h);
    await nats.jsm.streams.deleteMessage(stream, msg.seq, false).catch((err: unknown) => {
      // Another process moved it first.
      if (!/not found|no message/i.test(String(err))) throw err;
    });
  }

  return {
    async check() {
      const [consumer, info] = await Promise.all([
        nats.jsm.consumers.info(stream, durable),
        nats.jsm.streams.info(stream),
      ]);
      const floor = consumer.ack_floor.stream_seq;
      const found = new Set<string>();
      let moved = 0;
      let seq = info.state.first_seq;
      while (info.state.messages > 0 && seq <= floor && found.size < MAX_PER_ROUND) {
        // `next_by_subj` (nats-server 2.9+) skips the gaps acked messages leave in a work queue.
        const query = { seq, next_by_subj: opts.filter ?? '>' } as unknown as MsgRequest;
        const msg = await nats.jsm.streams.getMessage(stream, query);
        if (!msg || msg.seq > floor) break;
        const key = `${msg.seq}:${msg.time.getTime()}`;
        found.add(key);
        if (suspects.has(key)) {
          await move(msg);
          moved += 1;
        }
        seq = msg.seq + 1;
      }
      suspects = found;
      if (moved > 0) {
        opts.metrics.queueStrandedMoved.inc({ consumer: durable }, moved);
        opts.log.warn(
          { stream, consumer: durable, moved, ackFloor: floor, streamFirst: info.state.first_seq },
          'stream held messages below its consumer ack floor; published them again',
        );
      }
      return moved;
    },
  };
}
