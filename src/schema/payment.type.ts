import { ArgsType, Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { OrderStatus } from '../entities/order.entity.js';
import type { CountdownView } from '../services/orders/order.service.js';
import type { PaymentSession } from '../services/payments/payment.service.js';
import { OrderType, toOrderType } from './order.type.js';

export const PaymentOutcome = { SUCCEED: 'SUCCEED', FAIL: 'FAIL' } as const;
export type PaymentOutcome = (typeof PaymentOutcome)[keyof typeof PaymentOutcome];
registerEnumType(PaymentOutcome, { name: 'PaymentOutcome', description: 'What the simulated card processor does.' });

@ObjectType('PaymentSession', {
  simpleResolvers: true,
  description:
    'Confirm the payment on the device with the provider SDK (Stripe.js confirmPayment, or PaymentSheet on mobile) using clientSecret, then follow orderUpdated.',
})
export class PaymentSessionType {
  @Field(() => OrderType)
  order!: OrderType;

  @Field(() => String, {
    description: '`stripe` or `simulated`; `free` for a free order, which is paid at once (nothing to confirm).',
  })
  provider!: string;

  @Field(() => String)
  paymentIntentId!: string;

  @Field(() => String, { description: 'Only for the order’s owner; lets their device confirm this one payment.' })
  clientSecret!: string;
}

@ObjectType('Countdown', { simpleResolvers: true })
export class CountdownType {
  @Field(() => ID)
  orderId!: string;

  @Field(() => Int, { description: 'Seconds until the hold ends while it can still be paid; 0 otherwise.' })
  secondsLeft!: number;

  @Field(() => OrderStatus)
  status!: OrderStatus;
}

@ArgsType()
export class SimulatePaymentArgs {
  @Field(() => ID)
  orderId!: string;

  @Field(() => PaymentOutcome)
  outcome!: PaymentOutcome;
}

export function toPaymentSessionType(session: PaymentSession): PaymentSessionType {
  return {
    order: toOrderType(session.order),
    provider: session.provider,
    paymentIntentId: session.paymentIntentId,
    clientSecret: session.clientSecret,
  };
}

export function toCountdownType(view: CountdownView): CountdownType {
  return { orderId: view.orderId, secondsLeft: view.secondsLeft, status: view.status };
}
