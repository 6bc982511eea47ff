import type { PassRecord } from './waiting-room.rules.js';

/** Most joins written in one statement. */
const MAX_BATCH = 1000;

interface Pending {
  userIds: Map<string, { resolve: (pass: PassRecord) => void; reject: (err: unknown) => void }[]>;
}

/**
 * Pre-queue joins of one gateway, written to Postgres together: while one insert is in flight the
 * next joins collect, and go in one statement when it returns (at once when the gateway is idle).
 * A million buyers joining in the half hour before a sale cost a few thousand statements instead
 * of a million round trips; arrival order within a batch is kept (it is the join order).
 */
export class JoinBatcher {
  private readonly pending = new Map<string, Pending>();
  private readonly flushing = new Set<string>();

  constructor(private readonly write: (eventId: string, userIds: string[]) => Promise<PassRecord[]>) {}

  join(eventId: string, userId: string): Promise<PassRecord> {
    return new Promise((resolve, reject) => {
      let batch = this.pending.get(eventId);
      if (!batch) this.pending.set(eventId, (batch = { userIds: new Map() }));
      const waiters = batch.userIds.get(userId) ?? [];
      waiters.push({ resolve, reject });
      batch.userIds.set(userId, waiters);
      if (!this.flushing.has(eventId)) void this.flush(eventId);
    });
  }

  private async flush(eventId: string): Promise<void> {
    this.flushing.add(eventId);
    try {
      for (;;) {
        // Let the joins of this turn of the event loop arrive first.
        await new Promise((r) => setImmediate(r));
        const batch = this.pending.get(eventId);
        if (!batch || batch.userIds.size === 0) return;
        const ids = [...batch.userIds.keys()].slice(0, MAX_BATCH);
        const waiters = ids.map((id) => [id, batch.userIds.get(id)!] as const);
        for (const id of ids) batch.userIds.delete(id);
        if (batch.userIds.size === 0) this.pending.delete(eventId);
        try {
          const passes = new Map((await this.write(eventId, ids)).map((p) => [p.userId, p]));
          for (const [id, list] of waiters) {
            const pass = passes.get(id);
            for (const w of list) {
              if (pass) w.resolve(pass);
              else w.reject(new Error(`no pass written for ${id}`));
            }
          }
        } catch (err) {
          for (const [, list] of waiters) for (const w of list) w.reject(err);
        }
      }
    } finally {
      this.flushing.delete(eventId);
    }
  }
}
