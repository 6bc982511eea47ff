import { Migration } from '@mikro-orm/migrations';

/** The whole data model. Constraints that protect money and stock live here, in the database. */
export class InitialSchema extends Migration {
  override up(): void {
    this.addSql(`
      create table users (
        id uuid primary key,
        email text not null unique,
        name text not null,
        password_hash text not null,
        role text not null check (role in ('USER', 'ADMIN')),
        created_at timestamptz not null default now()
      );

      create table events (
        id uuid primary key,
        title text not null,
        description text not null,
        venue text not null,
        starts_at timestamptz not null,
        sale_starts_at timestamptz not null,
        price integer not null check (price >= 0),
        currency character(3) not null check (currency ~ '^[A-Z]{3}$'),
        tickets_total integer not null check (tickets_total > 0),
        max_per_user integer not null check (max_per_user > 0),
        created_at timestamptz not null default now(),
        search tsvector generated always as (
          setweight(to_tsvector('english', title), 'A') ||
          setweight(to_tsvector('english', venue), 'B') ||
          setweight(to_tsvector('english', description), 'C')
        ) stored,
        check (sale_starts_at < starts_at)
      );
      create index events_search_idx on events using gin (search);
      create index events_starts_at_idx on events (starts_at, id);
      create index events_sale_starts_at_idx on events (sale_starts_at);

      create table stock (
        event_id uuid primary key references events (id) on delete cascade,
        available integer not null check (available >= 0),
        version bigint not null default 0,
        updated_at timestamptz not null default now()
      );

      create table bookings (
        id uuid primary key,
        user_id uuid not null references users (id),
        event_id uuid not null references events (id),
        quantity integer not null check (quantity > 0),
        idempotency_key text not null,
        status text not null check (status in ('RESERVED', 'REJECTED')),
        reason text,
        order_id uuid,
        requested_at timestamptz not null,
        decided_at timestamptz not null default now(),
        unique (user_id, idempotency_key)
      );

      create table orders (
        id uuid primary key,
        booking_id uuid not null unique references bookings (id),
        user_id uuid not null references users (id),
        event_id uuid not null references events (id),
        quantity integer not null check (quantity > 0),
        amount integer not null check (amount >= 0),
        currency character(3) not null,
        status text not null check (status in ('UNPAID', 'PAYING', 'CANCELLED', 'SUCCEEDED', 'FAILED', 'REFUNDED')),
        expires_at timestamptz not null,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );
      create index orders_user_idx on orders (user_id, created_at desc, id desc);
      create index orders_event_idx on orders (event_id, status);
      -- The expiry sweep reads only live holds.
      create index orders_open_expiry_idx on orders (expires_at) where status in ('UNPAID', 'PAYING', 'FAILED');

      create table payments (
        id uuid primary key,
        order_id uuid not null unique references orders (id),
        provider text not null,
        intent_id text not null unique,
        client_secret text not null,
        amount integer not null check (amount >= 0),
        currency character(3) not null,
        status text not null,
        refund_id text,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );

      create table notifications (
        id uuid primary key,
        user_id uuid not null references users (id),
        kind text not null,
        title text not null,
        body text not null,
        order_id uuid references orders (id),
        created_at timestamptz not null default now(),
        read_at timestamptz
      );
      create index notifications_user_idx on notifications (user_id, created_at desc, id desc);

      create table device_tokens (
        token text primary key,
        user_id uuid not null references users (id),
        platform text,
        created_at timestamptz not null default now(),
        last_seen_at timestamptz not null default now()
      );
      create index device_tokens_user_idx on device_tokens (user_id);

      create table push_deliveries (
        id bigserial primary key,
        notification_id uuid not null references notifications (id),
        token text not null,
        provider text not null,
        status text not null,
        payload jsonb,
        created_at timestamptz not null default now(),
        unique (notification_id, token)
      );

      create table webhook_events (
        id text primary key,
        type text not null,
        payload jsonb not null,
        received_at timestamptz not null default now(),
        processed_at timestamptz,
        outcome text
      );
      create index webhook_events_unprocessed_idx on webhook_events (received_at) where processed_at is null;

      create table outbox (
        id bigserial primary key,
        subject text not null,
        payload jsonb not null,
        created_at timestamptz not null default now(),
        published_at timestamptz
      );
      create index outbox_unpublished_idx on outbox (id) where published_at is null;
    `);
  }
}
