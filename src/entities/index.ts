import { Booking } from './booking.entity.js';
import { Event } from './event.entity.js';
import { Notification } from './notification.entity.js';
import { Order } from './order.entity.js';
import { OutboxMessage } from './outbox-message.entity.js';
import { Stock } from './stock.entity.js';
import { User } from './user.entity.js';

/**
 * The tables the code reads and writes through the ORM. payments, device_tokens, push_deliveries
 * and webhook_events are reached only through their repositories' SQL (the migrations define them all).
 */
export const entities = [User, Event, Stock, Booking, Order, Notification, OutboxMessage];
