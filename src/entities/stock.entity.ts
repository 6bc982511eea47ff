import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/**
 * The source of truth for how many tickets of an event are still for sale. `CHECK (available >= 0)`
 * in the database is the last line of defence against overselling; `version` grows with every change
 * so the Redis copy can be reconciled against a known state.
 */
@Entity({ tableName: 'stock' })
export class Stock {
  @PrimaryKey({ type: 'uuid' })
  eventId!: string;

  @Property({ type: 'integer' })
  available!: number;

  @Property({ type: 'bigint', defaultRaw: '0' })
  version!: string;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  updatedAt!: Date;
}
