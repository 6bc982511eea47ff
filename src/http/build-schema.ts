import type { GraphQLSchema } from 'graphql';
import { buildSchema, type AuthChecker, type PubSub } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import { AuthResolver } from '../resolvers/auth.resolver.js';
import { BookingResolver } from '../resolvers/booking.resolver.js';
import { EventResolver } from '../resolvers/event.resolver.js';
import { NotificationResolver } from '../resolvers/notification.resolver.js';
import { OrderResolver } from '../resolvers/order.resolver.js';
import { PaymentResolver } from '../resolvers/payment.resolver.js';
import { SaleStatsResolver } from '../resolvers/sale-stats.resolver.js';
import { CurrentSession } from '../resolvers/current-session.middleware.js';
import { SessionResolver } from '../resolvers/session.resolver.js';
import { WaitingRoomResolver } from '../resolvers/waiting-room.resolver.js';
import { guardArguments } from '../schema/argument-guard.js';
import type { Services } from '../services/index.js';
import type { SessionService } from '../services/auth/session.service.js';

/**
 * `@Authorized()` needs a signed-in user; `@Authorized(role)` that role too, as Postgres has it now
 * (the token's role only turns away what it already rules out: while the token is current, its role
 * is the account's, since every role change bumps the token version).
 */
function createAuthChecker(sessions: SessionService | undefined): AuthChecker<RequestContext> {
  // Synchronous for a plain `@Authorized()` (bookTicket on every attempt): no promise to build.
  return ({ context }, roles) => {
    if (!context.user) throw new UnauthenticatedError();
    if (roles.length === 0) return true;
    const forbidden = () => new ForbiddenError(`This needs the ${roles.join(' or ')} role`);
    if (!roles.includes(context.user.role) || !sessions) throw forbidden();
    return sessions.confirm(context).then(({ role }) => {
      if (!roles.includes(role)) throw forbidden();
      return true;
    });
  };
}

/** Each resolver (and middleware) with the services it calls, and nothing else. */
function createResolvers(services: Services) {
  return [
    new AuthResolver(services.auth),
    new EventResolver(services.events),
    new NotificationResolver(services.notifications),
    new BookingResolver(services.bookings, services.events, services.orders),
    new OrderResolver(services.orders, services.events),
    new PaymentResolver(services.payments),
    new SaleStatsResolver(services.saleStats),
    new SessionResolver(services.sessions),
    new WaitingRoomResolver(services.waitingRoom.service),
    new CurrentSession(services.sessions),
  ];
}
const RESOLVER_CLASSES = [
  AuthResolver,
  EventResolver,
  NotificationResolver,
  BookingResolver,
  OrderResolver,
  PaymentResolver,
  SaleStatsResolver,
  SessionResolver,
  WaitingRoomResolver,
] as const;

/**
 * type-graphql refuses to build subscriptions without a PubSub, but ours use
 * `@Subscription({ subscribe })` over the LiveBus (reached through the request context), never topics.
 */
const NO_TOPICS: PubSub = {
  publish: () => {
    throw new Error('subscriptions use @Subscription({ subscribe }) over the LiveBus, not pub/sub topics');
  },
  subscribe: () => {
    throw new Error('subscriptions use @Subscription({ subscribe }) over the LiveBus, not pub/sub topics');
  },
};

/**
 * The executable schema; without services it can only be printed (`npm run schema`).
 *
 * Every object type is declared with `simpleResolvers: true`: its plain fields keep graphql's
 * default resolver, which graphql-jit compiles to a property read, instead of a type-graphql
 * wrapper per field per request (about a quarter of an event page's cost). Fields that need
 * arguments, auth or loading are `@FieldResolver`s in `src/resolvers`, which this does not affect.
 * Every text argument is checked before its resolver runs (guardArguments).
 */
export async function buildAppSchema(services?: Services): Promise<GraphQLSchema> {
  const instances = new Map<unknown, unknown>(services ? createResolvers(services).map((r) => [r.constructor, r]) : []);
  const schema = await buildSchema({
    resolvers: [...RESOLVER_CLASSES],
    container: {
      get: (cls: unknown) => {
        if (!instances.has(cls)) throw new Error('schema was built without services');
        return instances.get(cls);
      },
    },
    authChecker: createAuthChecker(services?.sessions),
    pubSub: NO_TOPICS,
    validate: false,
  });
  return guardArguments(schema);
}
