import Stripe from 'stripe';
import type {
  CancelIntentResult,
  CreateIntentInput,
  PaymentGateway,
  PaymentIntent,
  Refund,
} from './payment-gateway.js';

export interface StripeGatewayOptions {
  secretKey: string;
  /** Where API calls go instead of api.stripe.com, e.g. `http://127.0.0.1:12345` (tests use a stand-in). */
  apiUrl?: string;
  /** Per-request timeout; default 15 000 ms. payOrder is interactive, so fail well before Stripe's 80 s. */
  timeoutMs?: number;
  /** Retries of a failed network call or 5xx/409 answer, with the same idempotency key; default 2. */
  maxNetworkRetries?: number;
}

/** The real card processor, over the official SDK. Stripe wants lower-case currencies; we use ISO upper-case. */
export class StripeGateway implements PaymentGateway {
  readonly name = 'stripe';
  private readonly stripe: Stripe;

  constructor(options: StripeGatewayOptions) {
    this.stripe = new Stripe(options.secretKey, {
      maxNetworkRetries: options.maxNetworkRetries ?? 2,
      timeout: options.timeoutMs ?? 15_000,
      appInfo: { name: 'flash-sale-ticketing' },
      ...(options.apiUrl ? endpointOf(options.apiUrl) : {}),
    });
  }

  async createIntent(input: CreateIntentInput): Promise<PaymentIntent> {
    const intent = await this.stripe.paymentIntents.create(
      {
        amount: input.amount,
        currency: input.currency.toLowerCase(),
        metadata: { orderId: input.orderId },
        automatic_payment_methods: { enabled: true },
        ...(input.description ? { description: input.description } : {}),
      },
      { idempotencyKey: input.idempotencyKey },
    );
    return toIntent(intent);
  }

  async retrieveIntent(intentId: string): Promise<PaymentIntent> {
    return toIntent(await this.stripe.paymentIntents.retrieve(intentId));
  }

  async cancelIntent(intentId: string, idempotencyKey: string): Promise<CancelIntentResult> {
    try {
      const intent = await this.stripe.paymentIntents.cancel(intentId, {}, { idempotencyKey });
      return cancelResult(intent.status);
    } catch (err) {
      // Stripe refuses to cancel a succeeded (or already canceled) intent with this code; the error
      // usually carries the intent, else we ask for it. Money that arrived must never be "cancelled".
      if (err instanceof Stripe.errors.StripeInvalidRequestError && err.code === 'payment_intent_unexpected_state') {
        const status = err.payment_intent?.status ?? (await this.retrieveIntent(intentId)).status;
        return cancelResult(status);
      }
      throw err;
    }
  }

  async refund(intentId: string, idempotencyKey: string): Promise<Refund> {
    try {
      const refund = await this.stripe.refunds.create({ payment_intent: intentId }, { idempotencyKey });
      // A card refund is usually `succeeded` at once; `pending` resolves later via charge.refunded.
      return { id: refund.id, status: refund.status ?? 'pending' };
    } catch (err) {
      // Refunded already (e.g. a retry after Stripe forgot the idempotency key, or from the dashboard):
      // that refund is the answer, not an error to retry forever.
      if (!(err instanceof Stripe.errors.StripeError) || err.code !== 'charge_already_refunded') throw err;
      const existing = await this.stripe.refunds.list({ payment_intent: intentId, limit: 1 });
      const refund = existing.data[0];
      if (!refund) throw err;
      return { id: refund.id, status: refund.status ?? 'succeeded' };
    }
  }
}

function cancelResult(status: string): CancelIntentResult {
  if (status === 'canceled') return { outcome: 'canceled' };
  if (status === 'succeeded') return { outcome: 'already_succeeded' };
  return { outcome: 'not_cancelable', status };
}

function toIntent(intent: Stripe.PaymentIntent): PaymentIntent {
  if (!intent.client_secret) throw new Error(`Stripe returned PaymentIntent ${intent.id} without a client secret`);
  return {
    id: intent.id,
    clientSecret: intent.client_secret,
    status: intent.status,
    amount: intent.amount,
    currency: intent.currency.toUpperCase(),
  };
}

/** The SDK takes host, port and protocol apart; it has no base-path option, so a path is refused. */
function endpointOf(apiUrl: string): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  const url = new URL(apiUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`Stripe API URL must be http(s): ${apiUrl}`);
  if (url.pathname !== '/') throw new Error(`Stripe API URL cannot have a path: ${apiUrl}`);
  const protocol = url.protocol === 'https:' ? 'https' : 'http';
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'), // IPv6 literals come bracketed from URL
    port: url.port || (protocol === 'https' ? 443 : 80),
    protocol,
  };
}
