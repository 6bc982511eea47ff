import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { natsNames } from '../src/infra/nats.js';

/**
 * Messages still in the namespace's work-queue streams once the sale settled: each one is work no
 * consumer delivered (a work-queue stream drops a message when it is acknowledged). Waits past the
 * longest ack wait (60 s, payments, notifications and expiry), since a message a killed worker held
 * is delivered again only then; the dead-letter stream keeps its messages by design.
 */
export async function leftInStreams(natsUrl: string, namespace: string, waitMs = 75_000): Promise<string[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const { deadLetters, ...work } = natsNames(namespace).streams;
    void deadLetters;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const left: string[] = [];
      for (const stream of Object.values(work)) {
        const info = await jsm.streams.info(stream).catch(() => null);
        if (info && info.state.messages > 0) left.push(`${info.state.messages} in ${stream}`);
      }
      if (left.length === 0 || Date.now() > deadline) return left;
      await sleep(1000);
    }
  } finally {
    await nc.close();
  }
}
