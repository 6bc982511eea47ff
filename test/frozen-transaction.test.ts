import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BookTicketDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp } from './support/fixtures.js';
import { openDatabase } from '../src/infra/database.js';
import { createLogger } from '../src/logger.js';
import { gqlOk, startTestSystem, type TestSystem } from './support/system.js';

describe('a process frozen inside a transaction that locks the stock row', () => {
  let sys: TestSystem;
  let admin: string;
  beforeAll(async () => {
    sys = await startTestSystem({
      PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: '1000',
      PG_LOCK_TIMEOUT_MS: '500',
      // Long enough that a booking stuck behind the lock would answer QUEUED, not a decision.
      BOOKING_WAIT_MS: '20000',
    });
    admin = (await signUp(sys, ADMIN_EMAIL)).token;
  });
  afterAll(async () => {
    await sys.stop();
  });

  it('loses its session and its lock, so the bookings behind it are decided', async () => {
    const event = await createEvent(sys, admin, { ticketsTotal: 5 });
    const buyers = await createBuyers(sys, 3);
    let thaw!: () => void;
    const frozen = new Promise<void>((resolve) => (thaw = resolve));
    let locked!: () => void;
    const holdsLock = new Promise<void>((resolve) => (locked = resolve));
    // Like a worker stopped (SIGSTOP) between two statements of its batch transaction.
    const stalled = sys.app.infra.orm.em.fork().transactional(async (tx) => {
      await tx.execute('select available from stock where event_id = ? for update', [event.id]);
      locked();
      await frozen;
      await tx.execute('select 1');
    });
    const outcome = stalled.then(
      () => 'committed',
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    await holdsLock;

    const answers = await Promise.all(
      buyers.map((b, i) =>
        gqlOk(sys.url, BookTicketDocument, { eventId: event.id, idempotencyKey: `frozen-${i}` }, b.token),
      ),
    );
    thaw();
    expect(answers.map((a) => a.bookTicket.status)).toEqual(['RESERVED', 'RESERVED', 'RESERVED']);
    // Postgres ended the frozen session: its transaction can no longer commit anything.
    expect(await outcome).not.toBe('committed');
  });

  it('gives the connection of a transaction that Postgres ended back to the pool', async () => {
    const timeouts = { lockMs: 500, idleInTransactionMs: 300, statementMs: 5000 };
    const orm = await openDatabase(sys.config.databaseUrl, createLogger('silent'), { migrate: false, timeouts });
    const stalled = orm.em.fork().transactional(async (tx) => {
      await tx.execute('select 1');
      await new Promise((resolve) => setTimeout(resolve, 600)); // idle in the transaction past its timeout
      await tx.execute('select 1');
    });
    await expect(stalled).rejects.toThrow();
    const pool = (await orm.em.getConnection().getNativeClient()) as { totalCount: number; idleCount: number };
    // Nothing checked out: before the fix the dead connection stayed checked out forever (and close() hung).
    expect(pool.totalCount - pool.idleCount).toBe(0);
    expect(await orm.em.fork().execute('select 1 as one')).toEqual([{ one: 1 }]);
    await orm.close();
  });
});
