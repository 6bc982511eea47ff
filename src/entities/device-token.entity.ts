import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/** A push token of one of a user's devices. A token belongs to the user who registered it last. */
@Entity({ tableName: 'device_tokens' })
export class DeviceToken {
  @PrimaryKey({ type: 'text' })
  token!: string;

  @Property({ type: 'uuid', index: true })
  userId!: string;

  @Property({ type: 'text', nullable: true })
  platform?: string | null;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  lastSeenAt!: Date;
}
