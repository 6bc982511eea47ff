import { signedIn, type RequestContext } from '../../context.js';
import type { Order } from '../../entities/order.entity.js';
import { ConflictError, ForbiddenError, NotFoundError, UnavailableError } from '../../errors.js';
import type { Database } from '../../infra/database.js';
import type { LiveBus } from '../../infra/live-bus.js';
import type { ConfiguredPaymentGateway } from '../../infra/payments/create-payment-gateway.js';
import type { Logger } from '../../logger.js';
import { isUuid } from '../shared/validation.js';
import type { LiveTopics } from '../messages/live-topics.js';
import type { OrderTransitions } from '../orders/order-transitions.js';
import { ownOrder, readOrder } from '../orders/order.repository.js';
import { insertPayment, storedPayment, type StoredPayment } from './payment.repository.js';
import type { PaymentSettlement } from './payment-settlement.service.js';

/** What the buyer's device needs to confirm the payment with the provider's SDK. */
export interface PaymentSession {
  order: Order;
  provider: string;
  paymentIntentId: string;
  clientSecret: string;
}

export type SimulatedOutcome = 'SUCCEED' | 'FAIL';

/** The provider name of a free order's session: nothing to confirm, the order is paid. */
const FREE_PROVIDER = 'free';

/** How long simulatePayment waits for the payment worker to apply the event it caused. */
const SIMULATE_WAIT_MS = 5000;

export interface PaymentServiceDeps {
  orm: Database;
  configured: ConfiguredPaymentGateway;
  transitions: OrderTransitions;
  settlement: PaymentSettlement;
  live: LiveBus<LiveTopics>;
  log: Logger;
}

/**
 * The buyer's side of paying: start (or resume) a payment, give a hold back, and, with the
 * simulated provider, pay. Only the owner may touch an order; anyone else gets NOT_FOUND, exactly
 * as for an id that does not exist, so order ids are never confirmed to exist.
 */
export class PaymentService {
  constructor(private readonly deps: PaymentServiceDeps) {}

  /**
   * One PaymentIntent per order, ever: created with an idempotency key derived from the order id
   * and stored (payments.order_id is unique), so a retried or concurrent call, or a retry after a
   * failed payment, gets the same intent. The order then moves UNPAID|FAILED → PAYING while its hold
   * runs; calling again while PAYING returns the same session.
   */
  async payOrder(ctx: RequestContext, orderId: string): Promise<PaymentSession> {
    const user = signedIn(ctx);
    const { order, holdOpen } = await this.ownOrder(ctx, orderId);
    if (order.status === 'PAYING' && holdOpen) return this.session(order, await this.storedPayment(order.id));
    this.refuseUnpayable(order, holdOpen);
    if (order.amount === 0) return this.settleFree(ctx, order);

    const payment = (await this.storedPayment(order.id)) ?? (await this.createPayment(order));
    const [moved] = await this.deps.transitions.run((t) =>
      t.move([order.id], ['UNPAID', 'FAILED'], 'PAYING', { open: true, userId: user.id }),
    );
    if (moved) return this.session(moved, payment);
    // Lost a race (a concurrent payOrder, the expiry, a webhook): answer from what won.
    const now = await this.ownOrder(ctx, orderId);
    if (now.order.status === 'PAYING' && now.holdOpen) return this.session(now.order, payment);
    this.refuseUnpayable(now.order, now.holdOpen);
    throw new ConflictError(`The order is ${now.order.status}; try again`, { status: now.order.status });
  }

  /**
   * Only with PAYMENT_PROVIDER=simulated (else FORBIDDEN: the operation exists, this deployment
   * does not allow it). The simulated processor posts a signed Stripe event to our own webhook
   * route, exactly as Stripe would; then this waits up to SIMULATE_WAIT_MS for the payment worker
   * to apply it and returns the order as it is then (still PAYING if the worker was slower).
   */
  async simulatePayment(ctx: RequestContext, orderId: string, outcome: SimulatedOutcome): Promise<Order> {
    const simulated = this.deps.configured.simulated;
    if (!simulated) {
      throw new ForbiddenError('simulatePayment is only available with PAYMENT_PROVIDER=simulated');
    }
    const { order } = await this.ownOrder(ctx, orderId);
    if (order.status !== 'PAYING') {
      throw new ConflictError(
        `simulatePayment needs a PAYING order (call payOrder first); this one is ${order.status}`,
        {
          status: order.status,
        },
      );
    }
    const payment = await this.storedPayment(order.id);
    if (!payment) throw new ConflictError('This order has no payment to complete; call payOrder first');

    // Listen before sending: the worker may apply the event before the webhook call returns.
    let applied: () => void = () => undefined;
    const changed = new Promise<void>((resolve) => (applied = resolve));
    const unlisten = this.deps.live.listen('order', order.id, (msg) => {
      if (msg.status !== 'PAYING') applied();
    });
    const timer = setTimeout(applied, SIMULATE_WAIT_MS);
    try {
      await simulated.complete(
        { id: payment.intent_id, orderId: order.id, amount: order.amount, currency: order.currency },
        outcome === 'SUCCEED' ? 'succeeded' : 'failed',
      );
      await changed;
    } catch (err) {
      this.deps.log.warn({ err, orderId }, 'the simulated provider could not deliver its webhook');
      throw new UnavailableError('The simulated payment could not be delivered to the webhook; nothing changed');
    } finally {
      clearTimeout(timer);
      unlisten();
    }
    return (await readOrder(this.deps.orm.em, order.id))!;
  }

  /**
   * The owner gives a hold back before it ends: UNPAID/FAILED → CANCELLED with the tickets back at
   * once. A PAYING order's intent is cancelled at the provider first, as at expiry; if the money
   * arrived first, the order is paid and the cancellation is refused.
   */
  async cancelOrder(ctx: RequestContext, orderId: string): Promise<Order> {
    const user = signedIn(ctx);
    const { order } = await this.ownOrder(ctx, orderId);
    if (order.status === 'UNPAID' || order.status === 'FAILED') {
      const cancelled = await this.deps.transitions.run(async (t) => {
        const [cancelled] = await t.cancel([order.id], ['UNPAID', 'FAILED'], { userId: user.id });
        return cancelled ?? null;
      });
      if (cancelled) {
        await this.deps.settlement.cancelIntentsOf([cancelled.id]);
        return cancelled;
      }
    } else if (order.status === 'PAYING') {
      const result = await this.deps.settlement.cancelPaying(order.id, { expired: false });
      if (result === 'succeeded') {
        throw new ConflictError('The payment went through before the cancellation: the order is paid', {
          status: 'SUCCEEDED',
        });
      }
      if (result === 'pending') {
        throw new ConflictError('The payment is being processed and cannot be cancelled now; try again shortly', {
          status: 'PAYING',
        });
      }
    }
    const now = (await readOrder(this.deps.orm.em, order.id))!;
    // Cancelled by this call or by the expiry racing it: either way what the caller asked for.
    if (now.status === 'CANCELLED' && order.status !== 'CANCELLED') return now;
    throw new ConflictError(`Only an unpaid order can be cancelled; this one is ${now.status}`, { status: now.status });
  }

  /**
   * A free order (price 0) has nothing to charge, and card processors refuse zero-amount intents:
   * it succeeds at once (with its notification), and the session says there is nothing to confirm.
   */
  private async settleFree(ctx: RequestContext, order: Order): Promise<PaymentSession> {
    const user = signedIn(ctx);
    const settled = await this.deps.transitions.run(async (t) => {
      const [moved] = await t.move([order.id], ['UNPAID', 'FAILED'], 'SUCCEEDED', { open: true, userId: user.id });
      if (moved) t.notify(moved, 'ORDER_SUCCEEDED');
      return moved;
    });
    const now = settled ?? (await this.ownOrder(ctx, order.id)).order;
    if (now.status !== 'SUCCEEDED') this.refuseUnpayable(now, false);
    return { order: now, provider: FREE_PROVIDER, paymentIntentId: `free_${order.id}`, clientSecret: '' };
  }

  /** The caller's order with whether its hold still runs (Postgres' clock); NOT_FOUND otherwise. */
  private async ownOrder(ctx: RequestContext, orderId: string): Promise<{ order: Order; holdOpen: boolean }> {
    const user = signedIn(ctx);
    if (!isUuid(orderId)) throw new NotFoundError('No such order');
    const own = await ownOrder(this.deps.orm.em, orderId, user.id);
    if (!own) throw new NotFoundError('No such order');
    return own;
  }

  /** CONFLICT with the reason when the order cannot be paid (any more). */
  private refuseUnpayable(order: Order, holdOpen: boolean): void {
    const reasons: Partial<Record<Order['status'], string>> = {
      SUCCEEDED: 'This order is already paid',
      REFUNDED: 'This order was refunded',
      CANCELLED: holdOpen ? 'This order was cancelled' : 'This order was cancelled: its hold expired',
    };
    const reason = reasons[order.status] ?? (holdOpen ? null : 'The hold on this order has expired');
    if (reason) throw new ConflictError(reason, { status: order.status });
  }

  private storedPayment(orderId: string): Promise<StoredPayment | null> {
    return storedPayment(this.deps.orm.em.fork(), orderId);
  }

  /**
   * Creates the intent outside any transaction (no money moves yet) and stores it. Two concurrent
   * calls send the same idempotency key, so the provider answers both with one intent; the unique
   * order_id keeps one row either way.
   */
  private async createPayment(order: Order): Promise<StoredPayment> {
    const { gateway } = this.deps.configured;
    let intent;
    try {
      intent = await gateway.createIntent({
        orderId: order.id,
        amount: order.amount,
        currency: order.currency,
        idempotencyKey: `order-${order.id}`,
        description: `Order ${order.id}`,
      });
    } catch (err) {
      this.deps.log.warn({ err, orderId: order.id }, 'could not create a payment intent');
      throw new UnavailableError('The payment provider is unavailable; nothing was charged, try again shortly');
    }
    const inserted = await insertPayment(this.deps.orm.em.fork(), {
      orderId: order.id,
      provider: gateway.name,
      intentId: intent.id,
      clientSecret: intent.clientSecret,
      amount: order.amount,
      currency: order.currency,
      status: intent.status,
    });
    return inserted ?? (await this.storedPayment(order.id))!;
  }

  private session(order: Order, payment: StoredPayment | null): PaymentSession {
    if (!payment) throw new Error(`order ${order.id} is PAYING without a stored payment`);
    return {
      order,
      provider: payment.provider,
      paymentIntentId: payment.intent_id,
      clientSecret: payment.client_secret,
    };
  }
}
