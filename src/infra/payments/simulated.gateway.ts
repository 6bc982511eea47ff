import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import type {
  CancelIntentResult,
  CreateIntentInput,
  PaymentGateway,
  PaymentIntent,
  Refund,
} from './payment-gateway.js';

export interface SimulatedGatewayOptions {
  /** Signs the events exactly as Stripe would, so the webhook route cannot tell the difference. */
  webhookSecret: string;
  /** Read at delivery time: the app learns its own port only after it listens. */
  webhookUrl: () => string;
  /** Per delivery; default 10 000 ms. */
  deliveryTimeoutMs?: number;
}

/** What `complete` needs; the app has all of it in its payments table. */
export interface SimulatedIntentRef {
  id: string;
  orderId: string;
  amount: number;
  currency: string;
}

export class WebhookDeliveryError extends Error {
  constructor(
    readonly status: number,
    readonly responseBody: string,
  ) {
    super(`Webhook answered ${status}: ${responseBody.slice(0, 200)}`);
    this.name = 'WebhookDeliveryError';
  }
}

/**
 * An offline card processor. The app's payments table is the record of every intent, so this
 * driver works with any number of processes: it derives events from its inputs, and its memory
 * (a Map per process) only makes retries with the same idempotency key return the same answer
 * and lets `cancelIntent` notice a payment this process completed. Across processes the app's
 * unique constraints guard against double creation, and a success that races a cancel arrives as
 * a webhook for a cancelled order, which the payment rules settle (re-take or refund).
 */
export class SimulatedGateway implements PaymentGateway {
  readonly name = 'simulated';
  private readonly byKey = new Map<string, PaymentIntent>();
  private readonly byId = new Map<string, PaymentIntent>();
  private readonly refunds = new Map<string, Refund>();

  constructor(private readonly options: SimulatedGatewayOptions) {}

  async createIntent(input: CreateIntentInput): Promise<PaymentIntent> {
    const known = this.byKey.get(input.idempotencyKey);
    if (known) return { ...known };
    const id = `pi_sim_${token()}`;
    const intent: PaymentIntent = {
      id,
      clientSecret: `${id}_secret_${token()}`,
      status: 'requires_payment_method',
      amount: input.amount,
      currency: input.currency.toUpperCase(),
    };
    remember(this.byKey, input.idempotencyKey, intent);
    remember(this.byId, id, intent);
    return { ...intent };
  }

  /** Answers from this process's memory only; elsewhere the payments table is the record. */
  async retrieveIntent(intentId: string): Promise<PaymentIntent> {
    const intent = this.byId.get(intentId);
    if (!intent) throw new Error(`Simulated intent ${intentId} is unknown to this process; read the payments table`);
    return { ...intent };
  }

  async cancelIntent(intentId: string, _idempotencyKey: string): Promise<CancelIntentResult> {
    const intent = this.byId.get(intentId);
    if (intent?.status === 'succeeded') return { outcome: 'already_succeeded' };
    if (intent) intent.status = 'canceled';
    return { outcome: 'canceled' };
  }

  async refund(_intentId: string, idempotencyKey: string): Promise<Refund> {
    let refund = this.refunds.get(idempotencyKey);
    if (!refund) {
      refund = { id: `re_sim_${token()}`, status: 'succeeded' };
      remember(this.refunds, idempotencyKey, refund);
    }
    return { ...refund };
  }

  /** Pays (or declines) the intent: sends the event Stripe would send, through the real webhook route. */
  async complete(intent: SimulatedIntentRef, outcome: 'succeeded' | 'failed'): Promise<void> {
    const succeeded = outcome === 'succeeded';
    // After a decline Stripe puts the intent back to requires_payment_method, so the buyer can retry.
    const status = succeeded ? 'succeeded' : 'requires_payment_method';
    await this.sendEvent(succeeded ? 'payment_intent.succeeded' : 'payment_intent.payment_failed', {
      id: intent.id,
      object: 'payment_intent',
      amount: intent.amount,
      amount_received: succeeded ? intent.amount : 0,
      currency: intent.currency.toLowerCase(),
      status,
      metadata: { orderId: intent.orderId },
      latest_charge: succeeded ? `ch_sim_${token()}` : null,
      last_payment_error: succeeded
        ? null
        : {
            type: 'card_error',
            code: 'card_declined',
            decline_code: 'generic_decline',
            message: 'Your card was declined.',
          },
      livemode: false,
    });
    // Remember only after the app accepted the event, so a failed delivery can simply be repeated.
    const known = this.byId.get(intent.id);
    if (known) known.status = status;
  }

  /** Builds, signs and posts any Stripe-format event; tests use it for canceled/refunded events too. */
  async sendEvent(type: string, object: Record<string, unknown>): Promise<{ id: string }> {
    const event = {
      id: `evt_sim_${token()}`,
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: Math.floor(Date.now() / 1000),
      type,
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
    };
    const payload = JSON.stringify(event);
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: this.options.webhookSecret });
    const response = await fetch(this.options.webhookUrl(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'Stripe-Signature': signature },
      body: payload,
      signal: AbortSignal.timeout(this.options.deliveryTimeoutMs ?? 10_000),
    });
    const body = await response.text();
    if (!response.ok) throw new WebhookDeliveryError(response.status, body);
    return { id: event.id };
  }
}

/** Retries come within minutes, so a bounded memory suffices and a long load test cannot exhaust it. */
const MEMORY_LIMIT = 100_000;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value);
  if (map.size > MEMORY_LIMIT) map.delete(map.keys().next().value as string); // oldest first
}

function token(): string {
  return randomBytes(12).toString('hex');
}
