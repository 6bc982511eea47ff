/**
 * What the payment rules need from a card processor, in the domain's words. Two drivers:
 * `stripe.gateway.ts` (the real one) and `simulated.gateway.ts` (offline, same webhook path).
 * Amounts are integer minor units with an ISO 4217 currency (upper-case here, lower-case at Stripe).
 */
export interface PaymentIntent {
  id: string;
  clientSecret: string;
  /** The provider's state: `requires_payment_method`, `processing`, `succeeded`, `canceled`, … */
  status: string;
  amount: number;
  currency: string;
}

export interface CreateIntentInput {
  orderId: string;
  amount: number;
  currency: string;
  /** Same key, same intent: a retried call never creates a second charge. */
  idempotencyKey: string;
  description?: string;
}

export type CancelIntentResult =
  | { outcome: 'canceled' }
  /** The money already arrived; the caller must settle the order instead of cancelling it. */
  | { outcome: 'already_succeeded' }
  | { outcome: 'not_cancelable'; status: string };

export interface Refund {
  id: string;
  status: string;
}

export interface PaymentGateway {
  /** `stripe` or `simulated`; stored on each payment. */
  readonly name: string;
  createIntent(input: CreateIntentInput): Promise<PaymentIntent>;
  retrieveIntent(intentId: string): Promise<PaymentIntent>;
  cancelIntent(intentId: string, idempotencyKey: string): Promise<CancelIntentResult>;
  /** Refunds the whole captured amount of the intent. */
  refund(intentId: string, idempotencyKey: string): Promise<Refund>;
}
