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
import { guardArguments } from './argument-guard.js';
import type { Services } from '../services/index.js';

/** `@Authorized()` needs a signed-in user; `@Authorized(role)` that role too. */
const authChecker: AuthChecker<RequestContext> = ({ context }, roles) => {
  if (!context.user) throw new UnauthenticatedError();
  if (roles.length > 0 && !roles.includes(context.user.role)) throw new ForbiddenError('This needs the ADMIN role');
  return true;
};

/** Each resolver with the services it calls, and nothing else. */
function createResolvers(services: Services) {
  return [
    new AuthResolver(services.auth),
    new EventResolver(services.events),
    new NotificationResolver(services.notifications),
    new BookingResolver(services.bookings, services.events, services.orders),
    new OrderResolver(services.orders, services.events),
    new PaymentResolver(services.payments),
  ];
}
const RESOLVER_CLASSES = [
  AuthResolver,
  EventResolver,
  NotificationResolver,
  BookingResolver,
  OrderResolver,
  PaymentResolver,
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
    authChecker,
    pubSub: NO_TOPICS,
    validate: false,
  });
  return guardArguments(schema);
}
