import type { NotificationKind } from '../../entities/notification.entity.js';
import { formatMoney } from '../shared/money.js';

/** What a notification's text is made from: the order as it was when the request was handled. */
export interface OrderFacts {
  eventTitle: string;
  quantity: number;
  amount: number;
  currency: string;
  expiresAt: Date;
}

export interface NotificationText {
  title: string;
  body: string;
}

/**
 * The title and body shown in the inbox and in the push. One switch over the kinds, so a new kind
 * does not compile until it has a text. Times are in UTC: the server does not know the buyer's zone.
 */
export function notificationText(kind: NotificationKind, order: OrderFacts): NotificationText {
  const tickets = `${order.quantity} ${order.quantity === 1 ? 'ticket' : 'tickets'} for ${order.eventTitle}`;
  const money = formatMoney(order.amount, order.currency);
  switch (kind) {
    case 'ORDER_SUCCEEDED':
      return {
        title: `Payment received — ${tickets}`,
        body: `We received ${money}. Your tickets are confirmed.`,
      };
    case 'ORDER_CANCELLED':
      return {
        title: `Order cancelled — ${tickets}`,
        body: `Your order was cancelled and the tickets went back on sale. You were not charged.`,
      };
    case 'ORDER_REFUNDED':
      return {
        title: `Refund issued — ${tickets}`,
        body: `Your payment of ${money} was refunded in full; it may take a few days to show on your statement.`,
      };
    case 'HOLD_EXPIRING':
      return {
        title: `Your hold ends soon — ${tickets}`,
        body: `Pay ${money} by ${utcTime(order.expiresAt)} UTC to keep your tickets.`,
      };
  }
}

function utcTime(at: Date): string {
  return at.toISOString().slice(11, 16);
}
