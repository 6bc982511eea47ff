import type { Infra } from '../infra/infra.js';
import { AccessTokens } from './auth/access-tokens.js';
import { AuthService } from './auth/auth.service.js';
import { AuthThrottle } from './auth/auth-throttle.js';
import { AttemptLimiter } from '../infra/attempt-limiter.js';
import { BookingRegistry } from '../infra/booking-registry.js';
import { StockGate } from '../infra/stock-gate.js';
import { BookingDecider } from './booking/booking-decider.js';
import { BookingService } from './booking/booking.service.js';
import { EventCatalog } from './events/event-catalog.js';
import { EventService } from './events/event.service.js';
import { createLiveFeeds } from './live-feeds.js';
import { StockCounts } from './events/stock-counts.js';
import { OrderService } from './orders/order.service.js';
import { OrderTickets } from './orders/order-tickets.js';
import { NotificationService } from './notifications/notification.service.js';
import { createPaymentGateway } from '../infra/payments/create-payment-gateway.js';
import { HoldExpiry } from './orders/hold-expiry.service.js';
import { OrderTransitions } from './orders/order-transitions.js';
import { PaymentSettlement } from './payments/payment-settlement.service.js';
import { PaymentService } from './payments/payment.service.js';
import { SaleStatsService } from './events/sale-stats.service.js';
import { SessionService } from './auth/session.service.js';
import { createWaitingRoom } from './waiting-room/index.js';

/** Every service of the app, built once per process from the infrastructure it needs. */
export function createServices(infra: Infra) {
  const { config } = infra;
  const tokens = new AccessTokens(config.auth.jwtSecret, config.auth.tokenTtlSeconds);
  const sessions = new SessionService({
    tokens,
    orm: infra.orm,
    log: infra.log,
    databaseUrl: config.databaseUrl,
    tokenTtlSeconds: config.auth.tokenTtlSeconds,
  });
  const catalog = new EventCatalog(infra.orm);
  const gate = new StockGate(infra.redis, config.namespace);
  const registry = new BookingRegistry(infra.redis, config.namespace);
  const stock = new StockCounts(infra.live, gate, infra.orm, infra.log);
  const waitingRoom = createWaitingRoom(infra, catalog);
  const events = new EventService(catalog, stock, waitingRoom.repo, infra.reads);
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
    admission: waitingRoom.service,
  });
  const orderTickets = new OrderTickets(gate, catalog, decider, infra.live);
  const orders = new OrderService(infra.live, infra.reads);
  const paymentGateway = createPaymentGateway(config.payments, infra.metrics);
  const transitions = new OrderTransitions({
    orm: infra.orm,
    reads: infra.reads,
    stock: orderTickets,
    live: infra.live,
    metrics: infra.metrics,
    log: infra.log,
  });
  const settlement = new PaymentSettlement({
    orm: infra.orm,
    gateway: paymentGateway.gateway,
    transitions,
    stock: orderTickets,
    metrics: infra.metrics,
    log: infra.log,
  });
  return {
    tokens,
    sessions,
    catalog,
    gate,
    registry,
    stock,
    auth: new AuthService(
      tokens,
      config.auth.adminEmails,
      new AuthThrottle(new AttemptLimiter(infra.redis, config.namespace), infra.health, config.auth.throttle),
    ),
    events,
    bookings,
    decider,
    orderTickets,
    orders,
    feeds: createLiveFeeds({ events, bookings, notifications, orders, waitingRoom: waitingRoom.service }),
    waitingRoom,
    paymentGateway,
    transitions,
    settlement,
    holds: new HoldExpiry({ orm: infra.orm, transitions, settlement, log: infra.log }),
    payments: new PaymentService({
      orm: infra.orm,
      configured: paymentGateway,
      transitions,
      settlement,
      live: infra.live,
      log: infra.log,
    }),
    notifications,
    saleStats: new SaleStatsService(infra.nats),
  };
}

export type Services = ReturnType<typeof createServices>;
