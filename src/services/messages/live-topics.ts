import type { BookingRejection, BookingStatus } from '../../entities/booking.entity.js';
import type { NotificationKind } from '../../entities/notification.entity.js';
import type { OrderStatus } from '../../entities/order.entity.js';

/**
 * Messages that workers publish on the live bus for gateways to push to subscribers.
 * Keys: stock by event id, decisions to every gateway ('all'), order by order id,
 * notification by user id. Dates travel as ISO strings.
 */
export interface LiveTopics {
  stock: StockLive;
  decisions: BookingDecisionLive[];
  order: OrderLive;
  notification: NotificationLive;
  [topic: string]: unknown;
}

export interface StockLive {
  eventId: string;
  available: number;
  /** Postgres stock version the count belongs to; lets receivers drop an older count that arrives late. */
  version: number;
  at: string;
}

export interface BookingDecisionLive {
  bookingId: string;
  userId: string;
  eventId: string;
  status: Exclude<BookingStatus, 'QUEUED'>;
  reason: BookingRejection | null;
  orderId: string | null;
  /** Set when the same idempotency key had been used with other arguments. */
  conflict?: boolean;
}

export interface OrderLive {
  orderId: string;
  userId: string;
  status: OrderStatus;
  expiresAt: string;
  updatedAt: string;
}

export interface NotificationLive {
  id: string;
  userId: string;
  kind: NotificationKind;
  title: string;
  body: string;
  orderId: string | null;
  createdAt: string;
  readAt: string | null;
}
