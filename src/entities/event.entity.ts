import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/** A sellable event. `search` (a generated tsvector) exists only in the database, for full-text search. */
@Entity({ tableName: 'events' })
export class Event {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'text' })
  title!: string;

  @Property({ type: 'text' })
  description!: string;

  @Property({ type: 'text' })
  venue!: string;

  @Property({ type: 'datetime', columnType: 'timestamptz' })
  startsAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz' })
  saleStartsAt!: Date;

  /** Price of one ticket in minor units of `currency`. */
  @Property({ type: 'integer' })
  price!: number;

  @Property({ type: 'character', length: 3 })
  currency!: string;

  @Property({ type: 'integer' })
  ticketsTotal!: number;

  @Property({ type: 'integer' })
  maxPerUser!: number;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;
}
