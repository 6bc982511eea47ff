import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/**
 * A message written in the same transaction as the state change that causes it; the outbox relay
 * publishes it to JetStream (row id as the message id) and stamps `publishedAt`.
 */
@Entity({ tableName: 'outbox' })
export class OutboxMessage {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @Property({ type: 'text' })
  subject!: string;

  @Property({ type: 'jsonb' })
  payload!: Record<string, unknown>;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  publishedAt?: Date | null;

  /** A relay is publishing the row until then (Postgres time); after that any relay may. */
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  claimedUntil?: Date | null;
}
