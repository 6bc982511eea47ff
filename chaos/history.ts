/**
 * Every client's history: each call is invoked, then answered `ok` (data), `fail` (a GraphQL error
 * with its code) or `unknown` (no answer: a network error or timeout, so it may or may not have
 * happened). The invariants are checked against this record and Postgres.
 */
export type Outcome = 'ok' | 'fail' | 'unknown';

export interface Call {
  buyer: number;
  op: 'bookTicket' | 'payOrder' | 'simulatePayment' | 'cancelOrder';
  /** bookTicket: the idempotency key; otherwise the order id. */
  subject: string;
  gateway: string;
  invokedAt: number;
  answeredAt: number;
  outcome: Outcome;
  /** fail: extensions.code; unknown: the network error. */
  code?: string;
  /** bookTicket ok: the booking as answered. */
  booking?: { id: string; status: string; reason: string | null; orderId: string | null };
  /** Order mutations ok: the order's status as answered. */
  orderStatus?: string;
}

/** One booking attempt as its client saw it: the key, when it was first sent, what it decided. */
export interface Attempt {
  buyer: number;
  userId: string;
  eventId: string;
  key: string;
  quantity: number;
  firstInvokedAt: number;
  /** When the client first saw RESERVED or REJECTED (not a refusal); undefined when it never did. */
  decidedAt?: number;
  /** The client gave up on a refusal (NOT_ON_SALE, INVALID_QUANTITY) and was never answered QUEUED. */
  onlyRefused?: boolean;
}

export interface Payment {
  orderId: string;
  /** When simulatePayment SUCCEED was answered ok (the moment the buyer saw their payment go through). */
  paidAt: number;
}

export class History {
  /** When the sale opened for the buyers: times in reports are relative to it. */
  readonly opened = Date.now();
  readonly calls: Call[] = [];
  readonly attempts: Attempt[] = [];
  readonly payments: Payment[] = [];

  /** t+seconds since the sale opened, for reports. */
  t(at: number): string {
    return `t+${((at - this.opened) / 1000).toFixed(1)}s`;
  }

  /** Every call about one key or order, in order, for a failure's detail. */
  timeline(subject: string): string {
    return this.calls
      .filter((c) => c.subject === subject)
      .sort((a, b) => a.invokedAt - b.invokedAt)
      .map((c) => {
        const what = c.booking ? `${c.booking.status}${c.booking.reason ? ` ${c.booking.reason}` : ''}` : c.outcome;
        const gw = c.gateway.slice(c.gateway.lastIndexOf(':') + 1);
        return `${this.t(c.invokedAt)}..${this.t(c.answeredAt).slice(2)} @${gw} ${what}${c.code ? ` ${c.code}` : ''}`;
      })
      .join(' | ');
  }

  /** One line for the log: how the calls were answered. */
  summary(): string {
    const counts = new Map<string, number>();
    for (const c of this.calls) {
      const what = c.booking
        ? `${c.booking.status}${c.booking.reason ? ` ${c.booking.reason}` : ''}`
        : (c.code ?? c.outcome);
      const label = `${c.op} ${what}`;
      counts.set(label, (counts.get(label) ?? 0) + 1);
    }
    return [...counts].map(([label, n]) => `${n} ${label}`).join(', ');
  }
}
