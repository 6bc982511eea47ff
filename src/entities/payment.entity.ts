import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/** The provider's PaymentIntent for an order: one per order, reused when a failed payment is retried. */
@Entity({ tableName: 'payments' })
export class Payment {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid', unique: true })
  orderId!: string;

  @Property({ type: 'text' })
  provider!: string;

  @Property({ type: 'text', unique: true })
  intentId!: string;

  /** Lets the buyer's device confirm the intent; shown only to the order's owner. */
  @Property({ type: 'text', hidden: true })
  clientSecret!: string;

  @Property({ type: 'integer' })
  amount!: number;

  @Property({ type: 'character', length: 3 })
  currency!: string;

  /** The provider's last known state of the intent (`requires_payment_method`, `succeeded`, …). */
  @Property({ type: 'text' })
  status!: string;

  @Property({ type: 'text', nullable: true })
  refundId?: string | null;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  updatedAt!: Date;
}
