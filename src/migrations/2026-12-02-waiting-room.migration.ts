import { Migration } from '@mikro-orm/migrations';

/**
 * The waiting room: one row per event that has one, and one pass per buyer and event. Postgres is
 * the queue's record: positions, the serving counter (`admitted_through`) and every admission live
 * here, so losing Redis or any process loses no place and reshuffles nobody.
 *
 * A pass's position is null until the sale starts (the pre-queue); the admission runner then gives
 * the pre-queue places 1..N in a random order, and later joiners N+1, N+2, … in arrival order
 * (`join_seq`). Passes up to `admitted_through` have been admitted. EXPIRED (admitted_until passed)
 * and CLOSED (the room is closed because the event sold out) are derived, not stored, so closing
 * and reopening a room is one row update however many passes it holds.
 */
export class WaitingRoom extends Migration {
  override up(): void {
    this.addSql(`
      create table waiting_rooms (
        event_id uuid primary key references events (id),
        opens_minutes_before integer not null check (opens_minutes_before >= 0),
        admit_per_second integer check (admit_per_second > 0),
        admission_seconds integer not null check (admission_seconds > 0),
        shuffled_at timestamptz,
        last_position integer not null default 0,
        admitted_through integer not null default 0 check (admitted_through <= last_position),
        admission_tick_at timestamptz,
        current_rate double precision,
        closed boolean not null default false,
        updated_at timestamptz not null default now()
      );

      create table queue_passes (
        event_id uuid not null references waiting_rooms (event_id),
        user_id uuid not null references users (id),
        join_seq bigint generated always as identity,
        joined_at timestamptz not null default now(),
        position integer,
        state text not null default 'WAITING' check (state in ('WAITING', 'ADMITTED')),
        admitted_at timestamptz,
        admitted_until timestamptz,
        primary key (event_id, user_id),
        unique (event_id, position)
      );
      create index queue_passes_unplaced_idx on queue_passes (event_id, join_seq) where position is null;

      -- The admission runner measures the pipeline's decisions of an event over the last seconds.
      create index bookings_event_decided_idx on bookings (event_id, decided_at);
    `);
  }

  override down(): void {
    this.addSql(`
      drop index if exists bookings_event_decided_idx;
      drop table if exists queue_passes;
      drop table if exists waiting_rooms;
    `);
  }
}
