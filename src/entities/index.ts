import { Booking } from './booking.entity.js';
import { DeviceToken } from './device-token.entity.js';
import { Event } from './event.entity.js';
import { Notification } from './notification.entity.js';
import { Order } from './order.entity.js';
import { OutboxMessage } from './outbox-message.entity.js';
import { Payment } from './payment.entity.js';
import { PushDelivery } from './push-delivery.entity.js';
import { Stock } from './stock.entity.js';
import { User } from './user.entity.js';
import { WebhookEvent } from './webhook-event.entity.js';

export const entities = [
  User,
  Event,
  Stock,
  Booking,
  Order,
  Payment,
  Notification,
  DeviceToken,
  PushDelivery,
  WebhookEvent,
  OutboxMessage,
];
