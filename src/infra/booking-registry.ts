import { BOOKING_GROUPS, bookingGroup, redisKeys, type Redis, type RedisKeys } from './redis.js';

/**
 * The gateways' shared record of booking attempts, in Redis: what was asked (for idempotency and
 * CONFLICT), what was decided (for `booking(id)`), and an index of attempts still waiting for a
 * decision (for the sweep that makes sure every QUEUED attempt is decided). Postgres keeps the
 * durable copy of every decision; this is the fast path in front of it.
 */
export interface BookingRecord {
  bookingId: string;
  userId: string;
  eventId: string;
  quantity: number;
  idempotencyKey: string;
  requestedAt: string;
  status: 'QUEUED' | 'RESERVED' | 'REJECTED';
  reason: string | null;
  orderId: string | null;
  /** How many times the sweep has re-published it. */
  republished?: number;
}

/** An attempt in the pending index: its registry group (see bookingGroup) and id. */
export interface PendingRef {
  group: number;
  bookingId: string;
}

export type AdmitResult =
  { outcome: 'new' } | { outcome: 'exists'; record: BookingRecord } | { outcome: 'rate_limited' };

const RECORD_TTL_SECONDS = 7 * 86_400;

// Deadlines are on Redis' clock (TIME), never a process's: a gateway or sweeper whose clock is
// off would otherwise queue every attempt again at once, or none for minutes.
const REDIS_NOW_MS = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: record, rate counter, pending index. ARGV: record JSON, limit, window ms, decide within ms, booking id, ttl.
const ADMIT = `
${REDIS_NOW_MS}
local rec = redis.call('GET', KEYS[1])
if rec then return {'EXISTS', rec} end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
if n > tonumber(ARGV[2]) then return {'RATE_LIMITED'} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[6])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[5])
return {'NEW'}
`;

// KEYS: record, pending index. ARGV: decide within ms, booking id, ttl. Only an attempt still QUEUED:
// a decision recorded meanwhile (a worker's, or a dead-lettered attempt's REJECTED) must stand.
const POSTPONE = `
${REDIS_NOW_MS}
local rec = redis.call('GET', KEYS[1])
if not rec then return 0 end
local r = cjson.decode(rec)
if r.status ~= 'QUEUED' then return 0 end
r.republished = (tonumber(r.republished) or 0) + 1
redis.call('SET', KEYS[1], cjson.encode(r), 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), ARGV[2])
return r.republished
`;

// KEYS: pending index. ARGV: limit, look ahead ms. The attempts whose deadline has passed on Redis' clock.
const OVERDUE = `
${REDIS_NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], 0, now + tonumber(ARGV[2]), 'LIMIT', 0, ARGV[1])
`;

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

export class BookingRegistry {
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    namespace: string,
  ) {
    this.keys = redisKeys(namespace);
    redis.defineCommand('bookingAdmit', { numberOfKeys: 3, lua: ADMIT });
    redis.defineCommand('bookingPostpone', { numberOfKeys: 2, lua: POSTPONE });
    redis.defineCommand('bookingOverdue', { numberOfKeys: 1, lua: OVERDUE });
  }

  private recordKey(group: number, bookingId: string): string {
    return this.keys.booking(group, bookingId);
  }

  private pendingKey(group: number): string {
    return this.keys.pendingBookings(group);
  }

  /**
   * One round trip: returns the existing record for this booking id, or applies the user's rate
   * limit and records the attempt as QUEUED, to be decided within `decideWithinMs` (Redis' clock).
   */
  async admit(
    record: BookingRecord,
    rate: { limit: number; windowMs: number },
    decideWithinMs: number,
  ): Promise<AdmitResult> {
    const admit = (this.redis as unknown as Record<string, ScriptFn>)['bookingAdmit']!.bind(this.redis);
    const group = bookingGroup(record.userId);
    const out = (await admit(
      this.recordKey(group, record.bookingId),
      this.keys.rateLimit(record.userId),
      this.pendingKey(group),
      JSON.stringify(record),
      rate.limit,
      rate.windowMs,
      decideWithinMs,
      record.bookingId,
      RECORD_TTL_SECONDS,
    )) as [string, string?];
    if (out[0] === 'EXISTS') return { outcome: 'exists', record: JSON.parse(out[1]!) as BookingRecord };
    if (out[0] === 'RATE_LIMITED') return { outcome: 'rate_limited' };
    return { outcome: 'new' };
  }

  /**
   * Records a decision the gateway made on its own (the sold-out flag) as the attempt's decision,
   * unless the attempt already has a record: one command (SET NX GET, auto-pipelined with its
   * neighbours), so the key keeps exactly one decision. Returns the existing record, or null when
   * this one was stored.
   */
  async recordIfAbsent(record: BookingRecord, ttlSeconds = RECORD_TTL_SECONDS): Promise<BookingRecord | null> {
    const existing = await this.redis.set(
      this.recordKey(bookingGroup(record.userId), record.bookingId),
      JSON.stringify(record),
      'EX',
      ttlSeconds,
      'NX',
      'GET',
    );
    return existing ? (JSON.parse(existing) as BookingRecord) : null;
  }

  /**
   * Before a worker decides attempts: records each as QUEUED where Redis has no record of it (Redis
   * lost it, e.g. restarted empty while it was queued), so the gateway's sold-out answer cannot be
   * given to it meanwhile. Returns the attempts some path already answered REJECTED, with their
   * reason ('' for none): that answer was given and stands. One pipelined round trip per key group
   * (a Redis Cluster pipeline stays within one slot).
   */
  async claim(records: readonly Omit<BookingRecord, 'status' | 'reason' | 'orderId'>[]): Promise<Map<string, string>> {
    const byGroup = new Map<number, (typeof records)[number][]>();
    for (const r of records) {
      const group = bookingGroup(r.userId);
      byGroup.set(group, [...(byGroup.get(group) ?? []), r]);
    }
    const answered = new Map<string, string>();
    await Promise.all(
      [...byGroup].map(async ([group, inGroup]) => {
        const pipeline = this.redis.pipeline();
        for (const r of inGroup) {
          const queued: BookingRecord = { ...r, status: 'QUEUED', reason: null, orderId: null };
          pipeline.set(
            this.recordKey(group, r.bookingId),
            JSON.stringify(queued),
            'EX',
            RECORD_TTL_SECONDS,
            'NX',
            'GET',
          );
        }
        const results = (await pipeline.exec()) ?? [];
        results.forEach(([err, raw], i) => {
          if (err) throw err;
          if (typeof raw !== 'string') return;
          const existing = JSON.parse(raw) as BookingRecord;
          if (existing.status === 'REJECTED') answered.set(inGroup[i]!.bookingId, existing.reason ?? '');
        });
      }),
    );
    return answered;
  }

  /** The buyer's attempt (an id of another buyer's attempt is not found in this buyer's group). */
  async get(userId: string, bookingId: string): Promise<BookingRecord | null> {
    return this.lookup({ group: bookingGroup(userId), bookingId });
  }

  /** An attempt found in the pending index. */
  async lookup(ref: PendingRef): Promise<BookingRecord | null> {
    const raw = await this.redis.get(this.recordKey(ref.group, ref.bookingId));
    return raw ? (JSON.parse(raw) as BookingRecord) : null;
  }

  /** Stores decided records and takes them out of the pending index: one pipeline per group (one slot each). */
  async recordDecisions(records: readonly BookingRecord[]): Promise<void> {
    const byGroup = new Map<number, BookingRecord[]>();
    for (const r of records) {
      const group = bookingGroup(r.userId);
      byGroup.set(group, [...(byGroup.get(group) ?? []), r]);
    }
    await Promise.all(
      [...byGroup].map(async ([group, inGroup]) => {
        const pipeline = this.redis.pipeline();
        for (const r of inGroup) {
          pipeline.set(this.recordKey(group, r.bookingId), JSON.stringify(r), 'EX', RECORD_TTL_SECONDS);
        }
        pipeline.zrem(this.pendingKey(group), ...inGroup.map((r) => r.bookingId));
        await pipeline.exec();
      }),
    );
  }

  /**
   * Attempts whose decision deadline has passed on Redis' clock (or passes within `aheadMs`),
   * oldest first within each group, at most `limit` per group.
   */
  async overdue(limit: number, aheadMs = 0): Promise<PendingRef[]> {
    const overdue = (this.redis as unknown as Record<string, ScriptFn>)['bookingOverdue']!.bind(this.redis);
    const groups = Array.from({ length: BOOKING_GROUPS }, (_, group) => group);
    const found = await Promise.all(
      groups.map(async (group) =>
        ((await overdue(this.pendingKey(group), limit, aheadMs)) as string[]).map((bookingId) => ({
          group,
          bookingId,
        })),
      ),
    );
    return found.flat();
  }

  /**
   * Before the sweep queues an attempt again: moves its deadline and counts the re-publish, in one
   * step that does nothing once the attempt is decided. Returns the re-publish count, or 0 when it
   * is no longer QUEUED (and must not be queued again).
   */
  async postpone(ref: PendingRef, decideWithinMs: number): Promise<number> {
    const postpone = (this.redis as unknown as Record<string, ScriptFn>)['bookingPostpone']!.bind(this.redis);
    return Number(
      await postpone(
        this.recordKey(ref.group, ref.bookingId),
        this.pendingKey(ref.group),
        decideWithinMs,
        ref.bookingId,
        RECORD_TTL_SECONDS,
      ),
    );
  }

  async dropPending(ref: PendingRef): Promise<void> {
    await this.redis.zrem(this.pendingKey(ref.group), ref.bookingId);
  }
}
