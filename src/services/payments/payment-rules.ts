import type { OrderStatus } from '../../entities/order.entity.js';
import type { PaymentAction } from './payment-events.js';

/**
 * What a provider event does to an order in a given status: a pure table, so every pair of
 * (event, status) has a decided answer, including events that arrive late, twice or out of order.
 * The worker reads the status, plans, and applies the plan with a conditional update from exactly
 * that status; if the status changed meanwhile it reads and plans again.
 */
export type PaymentPlan =
  /** UNPAID/PAYING/FAILED → SUCCEEDED; ORDER_SUCCEEDED. */
  | { kind: 'succeed' }
  /** Money arrived for a CANCELLED order: take its tickets again through the gate, else refund. */
  | { kind: 'retake_or_refund' }
  /** PAYING → FAILED: the buyer may pay again while the hold lasts. */
  | { kind: 'fail' }
  /** The intent was cancelled at the provider: an open order ends, its tickets go back. */
  | { kind: 'cancel' }
  /** All the money went back: → REFUNDED; tickets the order held go back on sale. */
  | { kind: 'refund'; releaseTickets: boolean }
  /** A partial refund: noted on the payment, the order stays as it is. */
  | { kind: 'partial_refund' }
  /** Nothing to do to the order; `paymentStatus`, when set, is still recorded on the payment. */
  | { kind: 'ignore'; reason: string; paymentStatus?: string };

type Action = Exclude<PaymentAction, { kind: 'ignore' }>;

export function planPayment(action: Action, status: OrderStatus): PaymentPlan {
  switch (action.kind) {
    case 'succeeded':
      switch (status) {
        case 'UNPAID':
        case 'PAYING':
        case 'FAILED':
          return { kind: 'succeed' };
        case 'CANCELLED':
          return { kind: 'retake_or_refund' };
        case 'SUCCEEDED':
        case 'REFUNDED':
          return { kind: 'ignore', reason: `order already ${status}` };
      }
      break;
    case 'failed':
      // A late or repeated failure never overwrites a success, a cancellation or a refund.
      return status === 'PAYING'
        ? { kind: 'fail' }
        : { kind: 'ignore', reason: `payment failure for a ${status} order` };
    case 'canceled':
      return status === 'UNPAID' || status === 'PAYING' || status === 'FAILED'
        ? { kind: 'cancel' }
        : { kind: 'ignore', reason: `intent cancelled for a ${status} order` };
    case 'refunded':
      if (!action.full) return { kind: 'partial_refund' };
      switch (status) {
        case 'REFUNDED':
          // Our own automatic refund, confirmed (it may have been `pending` when we made it).
          return { kind: 'ignore', reason: 'order already REFUNDED', paymentStatus: 'refunded' };
        case 'CANCELLED':
          return { kind: 'refund', releaseTickets: false };
        case 'UNPAID':
        case 'PAYING':
        case 'FAILED':
        case 'SUCCEEDED':
          // A refund made in the dashboard (or one that overtook its succeeded event): the buyer
          // no longer owns the tickets, so they go back on sale (docs/design.md, invariant 1, counts
          // only UNPAID/PAYING/FAILED/SUCCEEDED as holding).
          return { kind: 'refund', releaseTickets: true };
      }
      break;
  }
  return { kind: 'ignore', reason: `no rule for ${action.kind} on a ${status} order` };
}
