import type { Infra } from '../app.js';
import { AccessTokens } from './access-tokens.js';
import { AuthService } from './auth.service.js';
import { BookingRegistry } from '../infra/booking-registry.js';
import { StockGate } from '../infra/stock-gate.js';
import { BookingDecider } from './booking-decider.js';
import { BookingService } from './booking.service.js';
import { EventCatalog } from './event-catalog.js';
import { EventService } from './event.service.js';
import { createLiveFeeds } from './live-feeds.js';
import { LiveStock } from './live-stock.js';
import { OrderService } from './order.service.js';
import { TicketStock } from './ticket-stock.js';
import { NotificationService } from './notification.service.js';

/** Every service of the app, built once per process from the infrastructure it needs. */
export function createServices(infra: Infra) {
  const { config } = infra;
  const tokens = new AccessTokens(config.auth.jwtSecret, config.auth.tokenTtlSeconds);
  const catalog = new EventCatalog(infra.orm);
  const gate = new StockGate(infra.redis, config.namespace);
  const registry = new BookingRegistry(infra.redis, config.namespace);
  const stock = new LiveStock(infra.live, gate, infra.orm, infra.log);
  const events = new EventService(catalog, stock);
  const notifications = new NotificationService(infra.live);
  const decider = new BookingDecider(infra.orm, gate, catalog, config.booking.holdSeconds);
  const bookings = new BookingService({
    config: config.booking,
    catalog,
    stock,
    registry,
    nats: infra.nats,
    live: infra.live,
    health: infra.health,
    metrics: infra.metrics,
    log: infra.log,
    orm: infra.orm,
  });
  return {
    tokens,
    catalog,
    gate,
    registry,
    stock,
    auth: new AuthService(tokens, config.auth.adminEmails),
    events,
    bookings,
    decider,
    ticketStock: new TicketStock(gate, catalog, decider, infra.live),
    orders: new OrderService(),
    feeds: createLiveFeeds({ events, bookings, notifications }),
    notifications,
  };
}

export type Services = ReturnType<typeof createServices>;
