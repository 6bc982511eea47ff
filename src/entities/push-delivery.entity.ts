import { Entity, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';

/** One push of a notification to one device; unique per pair so a redelivery never pushes twice. */
@Entity({ tableName: 'push_deliveries' })
@Unique({ properties: ['notificationId', 'token'] })
export class PushDelivery {
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @Property({ type: 'uuid' })
  notificationId!: string;

  @Property({ type: 'text' })
  token!: string;

  @Property({ type: 'text' })
  provider!: string;

  /** `sent`, or why not (`invalid_token`, `failed`). */
  @Property({ type: 'text' })
  status!: string;

  @Property({ type: 'jsonb', nullable: true })
  payload?: Record<string, unknown> | null;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;
}
