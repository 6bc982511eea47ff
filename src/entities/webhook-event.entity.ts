import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/**
 * A verified provider event, stored before the webhook answers 2xx so that none is lost;
 * `processedAt` is set in the same transaction that applies it, so it is applied once.
 */
@Entity({ tableName: 'webhook_events' })
export class WebhookEvent {
  @PrimaryKey({ type: 'text' })
  id!: string;

  @Property({ type: 'text' })
  type!: string;

  @Property({ type: 'jsonb' })
  payload!: Record<string, unknown>;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  receivedAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  processedAt?: Date | null;

  /** What applying it did, for operators (`applied`, `ignored: …`). */
  @Property({ type: 'text', nullable: true })
  outcome?: string | null;
}
