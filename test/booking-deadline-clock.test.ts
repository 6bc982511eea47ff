import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { startBookingSweeper } from '../src/workers/booking.sweeper.js';
import { BookTicketLeanDocument } from './generated/graphql.js';
import { ADMIN_EMAIL, createBuyers, createEvent, signUp } from './support/fixtures.js';
import { gqlOk, startTestSystem, type TestSystem } from './support/system.js';

/**
 * Decision deadlines are kept on Redis' clock, not a process's. Seen in chaos
 * (`worker-clock-10-min-ahead`): a sweeper whose clock ran ahead took every attempt in the
 * pending index for overdue and queued them all again at once, and postponed them to its own
 * future, where a lost one would have waited ten minutes.
 */
let sys: TestSystem;
let admin: string;

beforeAll(async () => {
  // Gateway only: nothing decides the attempt, so it stays QUEUED for the sweep to look at.
  sys = await startTestSystem({ ROLE: 'gateway', BOOKING_WAIT_MS: '0', BOOKING_DECISION_DEADLINE_MS: '60000' });
  admin = (await signUp(sys, ADMIN_EMAIL)).token;
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  await sys?.stop();
});

it('a sweeper whose clock is ten minutes ahead queues no attempt before its deadline', async () => {
  const { infra, services } = sys.app;
  const event = await createEvent(sys, admin, { ticketsTotal: 5 });
  const [buyer] = await createBuyers(sys, 1);
  const { bookTicket } = await gqlOk(
    sys.url,
    BookTicketLeanDocument,
    { eventId: event.id, quantity: 1, idempotencyKey: 'k1' },
    buyer!.token,
  );
  expect(bookTicket.status).toBe('QUEUED');
  const { bookings } = infra.nats.names.streams;
  const lastSeq = (await infra.nats.jsm.streams.info(bookings)).state.last_seq;

  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 10 * 60_000 });
  const sweeper = startBookingSweeper(infra, services.registry);
  try {
    await sweeper.runNow();
  } finally {
    await sweeper.stop();
  }
  vi.useRealTimers();

  expect((await infra.nats.jsm.streams.info(bookings)).state.last_seq).toBe(lastSeq);
  const record = await services.registry.get(buyer!.id, bookTicket.id);
  expect(record).toMatchObject({ status: 'QUEUED' });
  expect(record?.republished).toBeUndefined();
  // Still in the index, due on Redis' clock within the deadline (not ten minutes later).
  expect((await services.registry.overdue(10, 60_000)).map((ref) => ref.bookingId)).toContain(bookTicket.id);
});
