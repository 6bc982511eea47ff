import type { Infra } from '../infra/infra.js';
import { AccessTokens } from './access-tokens.js';
import { AuthService } from './auth.service.js';
import { AuthThrottle } from './auth-throttle.js';
import { AttemptLimiter } from '../infra/attempt-limiter.js';
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
import { createPaymentProvider } from '../infra/payments/create-payment-gateway.js';
import { HoldExpiry } from './hold-expiry.js';
import { OrderTransitions } from './order-transitions.js';
import { PaymentSettlement } from './payment-settlement.js';
import { PaymentService } from './payment.service.js';
import { SaleStatsService } from './sale-stats.service.js';
import { Sessions } from './sessions.js';
import { createWaitingRoom } from './waiting-room/index.js';

/** Every service of the app, built once per process from the infrastructure it needs. */
export function createServices(infra: Infra) {
  const { config } = infra;
  const tokens = new AccessTokens(config.auth.jwtSecret, config.auth.tokenTtlSeconds);
  const sessions = new Sessions({
    tokens,
    orm: infra.orm,
    log: infra.log,
    databaseUrl: config.databaseUrl,
    tokenTtlSeconds: config.auth.tokenTtlSeconds,
  });
  const catalog = new EventCatalog(infra.orm);
  const gate = new StockGate(infra.redis, config.namespace);
  const registry = new BookingRegistry(infra.redis, config.namespace);
  const stock = new LiveStock(infra.live, gate, infra.orm, infra.log);
  const waitingRoom = createWaitingRoom(infra, catalog);
  const events = new EventService(catalog, stock, waitingRoom.repo);
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
  const ticketStock = new TicketStock(gate, catalog, decider, infra.live);
  const orders = new OrderService(infra.live);
  const paymentProvider = createPaymentProvider(config.payments, infra.metrics);
  const transitions = new OrderTransitions({
    orm: infra.orm,
    stock: ticketStock,
    live: infra.live,
    metrics: infra.metrics,
    log: infra.log,
  });
  const settlement = new PaymentSettlement({
    orm: infra.orm,
    gateway: paymentProvider.gateway,
    transitions,
    stock: ticketStock,
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
    ticketStock,
    orders,
    feeds: createLiveFeeds({ events, bookings, notifications, orders, waitingRoom: waitingRoom.service }),
    waitingRoom,
    paymentProvider,
    transitions,
    settlement,
    holds: new HoldExpiry({ orm: infra.orm, transitions, settlement, log: infra.log }),
    payments: new PaymentService({
      orm: infra.orm,
      provider: paymentProvider,
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
