import type { Config } from '../../config.js';
import type { Metrics } from '../../metrics.js';
import type {
  CancelIntentResult,
  CreateIntentInput,
  PaymentGateway,
  PaymentIntent,
  Refund,
} from './payment-gateway.js';
import { SimulatedGateway } from './simulated.gateway.js';
import { StripeGateway } from './stripe.gateway.js';

/** The configured driver; `simulated` is also exposed so `simulatePayment` can complete its intents. */
export interface ConfiguredPaymentGateway {
  gateway: PaymentGateway;
  simulated: SimulatedGateway | null;
  /** The simulated driver posts to this process's own webhook route, known once the server listens. */
  listeningOn(port: number): void;
}

export function createPaymentGateway(config: Config['payments'], metrics: Metrics): ConfiguredPaymentGateway {
  if (config.provider === 'stripe') {
    const stripe = new StripeGateway({
      // config.ts refuses PAYMENT_PROVIDER=stripe without a key; this only satisfies the types.
      secretKey: config.stripeSecretKey ?? '',
      ...(config.stripeApiUrl ? { apiUrl: config.stripeApiUrl } : {}),
    });
    return { gateway: new MeteredGateway(stripe, metrics), simulated: null, listeningOn: () => undefined };
  }
  let webhookUrl: string | undefined;
  const simulated = new SimulatedGateway({
    webhookSecret: config.webhookSecret,
    webhookUrl: () => {
      if (!webhookUrl) throw new Error('the simulated payment provider needs the HTTP server to be listening');
      return webhookUrl;
    },
  });
  return {
    gateway: new MeteredGateway(simulated, metrics),
    simulated,
    listeningOn(port) {
      webhookUrl = `http://127.0.0.1:${port}/webhooks/stripe`;
    },
  };
}

/** Counts every provider call by outcome and times it, per operation, without the callers knowing. */
class MeteredGateway implements PaymentGateway {
  readonly name: string;

  constructor(
    private readonly inner: PaymentGateway,
    private readonly metrics: Metrics,
  ) {
    this.name = inner.name;
  }

  createIntent(input: CreateIntentInput): Promise<PaymentIntent> {
    return this.measure('create_intent', () => this.inner.createIntent(input));
  }

  retrieveIntent(intentId: string): Promise<PaymentIntent> {
    return this.measure('retrieve_intent', () => this.inner.retrieveIntent(intentId));
  }

  cancelIntent(intentId: string, idempotencyKey: string): Promise<CancelIntentResult> {
    return this.measure('cancel_intent', () => this.inner.cancelIntent(intentId, idempotencyKey));
  }

  refund(intentId: string, idempotencyKey: string): Promise<Refund> {
    return this.measure('refund', () => this.inner.refund(intentId, idempotencyKey));
  }

  private async measure<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const labels = { provider: this.name, operation };
    const end = this.metrics.paymentProviderSeconds.startTimer(labels);
    try {
      const result = await call();
      this.metrics.paymentProviderCalls.inc({ ...labels, outcome: 'success' });
      return result;
    } catch (err) {
      this.metrics.paymentProviderCalls.inc({ ...labels, outcome: 'error' });
      throw err;
    } finally {
      end();
    }
  }
}
