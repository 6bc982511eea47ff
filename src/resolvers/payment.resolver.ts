import { Arg, Args, Authorized, Ctx, ID, Mutation, Resolver, UseMiddleware } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { CurrentSession } from './current-session.middleware.js';
import { OrderType, toOrderType } from '../schema/order.type.js';
import { PaymentSessionType, SimulatePaymentArgs, toPaymentSessionType } from '../schema/payment.type.js';
import type { PaymentService } from '../services/payments/payment.service.js';

@Resolver()
export class PaymentResolver {
  constructor(private readonly payments: PaymentService) {}

  @Authorized()
  @UseMiddleware(CurrentSession)
  @Mutation(() => PaymentSessionType, {
    description:
      'Starts paying one of your UNPAID or FAILED orders while its hold runs (PAYING); again while PAYING, the same session.',
  })
  async payOrder(@Ctx() ctx: RequestContext, @Arg('orderId', () => ID) orderId: string): Promise<PaymentSessionType> {
    return toPaymentSessionType(await this.payments.payOrder(ctx, orderId));
  }

  @Authorized()
  @UseMiddleware(CurrentSession)
  @Mutation(() => OrderType, {
    description:
      'Only with PAYMENT_PROVIDER=simulated (else FORBIDDEN): pays or declines a PAYING order through the signed webhook; returns the order once the worker applied it (or after 5 s, possibly still PAYING).',
  })
  async simulatePayment(
    @Ctx() ctx: RequestContext,
    @Args(() => SimulatePaymentArgs) args: SimulatePaymentArgs,
  ): Promise<OrderType> {
    return toOrderType(await this.payments.simulatePayment(ctx, args.orderId, args.outcome));
  }

  @Authorized()
  @UseMiddleware(CurrentSession)
  @Mutation(() => OrderType, {
    description: 'Gives back the hold of one of your unpaid orders now; its tickets go back on sale.',
  })
  async cancelOrder(@Ctx() ctx: RequestContext, @Arg('orderId', () => ID) orderId: string): Promise<OrderType> {
    return toOrderType(await this.payments.cancelOrder(ctx, orderId));
  }
}
