/**
 * A buyer, start to finish: signs up (or signs in), follows the stock live, books, pays with the
 * simulated card and receives the notification, printing each step.
 *
 *   npm run example:buyer                                  # against `npm run demo`
 *   API=http://127.0.0.1:4000 EVENT_ID=… QUANTITY=2 npm run example:buyer
 *
 * Environment (all optional): API (http://127.0.0.1:4000), BUYER_EMAIL (buyer@example.com),
 * BUYER_PASSWORD (buyer-demo-password), EVENT_ID (default: the first event on sale with tickets
 * left), QUANTITY (1), TIMEOUT_SECONDS (60). Exits 0 once the notification has arrived, 1 with
 * the reason otherwise. The server must run with PAYMENT_PROVIDER=simulated (its default).
 *
 * One self-contained file on purpose: copy it into a client as a starting point. It runs on the
 * project's Node 24 (`npm run` uses it), which has fetch and WebSocket built in.
 */
import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';

const API = (process.env['API'] ?? 'http://127.0.0.1:4000').replace(/\/+$/, '');
const EMAIL = process.env['BUYER_EMAIL'] ?? 'buyer@example.com';
const PASSWORD = process.env['BUYER_PASSWORD'] ?? 'buyer-demo-password';
const QUANTITY = Number(process.env['QUANTITY'] ?? 1);
const TIMEOUT_SECONDS = Number(process.env['TIMEOUT_SECONDS'] ?? 60);

interface GraphqlError {
  message: string;
  extensions?: { code?: string };
}
interface StockUpdate {
  ticketsAvailable: number;
  status: string;
}
interface Order {
  id: string;
  amount: number;
  currency: string;
  status: string;
  secondsLeft: number;
}
interface Booking {
  id: string;
  status: string;
  reason: string | null;
  order: Order | null;
}
interface Notification {
  id: string;
  kind: string;
  title: string;
  body: string;
  orderId: string | null;
}

class ApiError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.code = code;
  }
}

const log = (line: string) => console.log(`[buyer] ${line}`);
let step = 'starting';

/** Sends one operation over HTTP; throws on GraphQL errors, naming the code. */
async function gql<T>(query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${API}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new Error(`cannot reach ${API}/graphql (${(err as Error).message}); is the server running (npm run demo)?`, {
      cause: err,
    });
  }
  const body = (await res.json()) as { data?: T; errors?: GraphqlError[] };
  const error = body.errors?.[0];
  if (error || !body.data) {
    const code = error?.extensions?.code;
    throw new ApiError(`${code ?? `HTTP ${res.status}`}: ${error?.message ?? 'no data'}`, code);
  }
  return body.data;
}

/** Follows one subscription: calls `onData` per message; the promise settles when the server ends it. */
function follow<T>(client: Client, query: string, variables: Record<string, unknown>, onData: (data: T) => void) {
  return new Promise<void>((resolve, reject) => {
    client.subscribe<T>(
      { query, variables },
      {
        next: ({ data, errors }) => {
          if (errors?.length) reject(new Error(`${query.split('{')[0]?.trim()}: ${JSON.stringify(errors)}`));
          else if (data) onData(data);
        },
        error: (err) => reject(err instanceof Error ? err : new Error(`websocket: ${JSON.stringify(err)}`)),
        complete: resolve,
      },
    );
  });
}

/** A promise and the function that resolves it, for "wait until this message arrives". */
function signal<T>() {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function signUpOrIn(): Promise<string> {
  step = 'signing in';
  const auth = '{ token user { id email role } }';
  try {
    const { signUp } = await gql<{ signUp: { token: string } }>(
      `mutation ($email: String!, $password: String!) { signUp(email: $email, password: $password, name: "Example Buyer") ${auth} }`,
      { email: EMAIL, password: PASSWORD },
    );
    log(`signed up as ${EMAIL}`);
    return signUp.token;
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'CONFLICT')) throw err;
  }
  const { signIn } = await gql<{ signIn: { token: string } }>(
    `mutation ($email: String!, $password: String!) { signIn(email: $email, password: $password) ${auth} }`,
    { email: EMAIL, password: PASSWORD },
  );
  log(`signed in as ${EMAIL}`);
  return signIn.token;
}

interface EventSummary {
  id: string;
  title: string;
  status: string;
  ticketsAvailable: number;
  price: number;
  currency: string;
}

async function chooseEvent(): Promise<EventSummary> {
  step = 'choosing an event';
  const fields = 'id title status ticketsAvailable price currency';
  const chosen = process.env['EVENT_ID'];
  if (chosen) {
    const { event } = await gql<{ event: EventSummary | null }>(`query ($id: ID!) { event(id: $id) { ${fields} } }`, {
      id: chosen,
    });
    if (!event) throw new Error(`EVENT_ID ${chosen}: no such event`);
    return event;
  }
  const { events } = await gql<{ events: { edges: { node: EventSummary }[] } }>(
    `{ events(first: 50) { edges { node { ${fields} } } } }`,
    {},
  );
  const onSale = events.edges.map((e) => e.node).find((e) => e.status === 'ON_SALE' && e.ticketsAvailable >= QUANTITY);
  if (!onSale) throw new Error('no event is on sale with tickets left: run `npm run demo`, or set EVENT_ID');
  return onSale;
}

const money = (amount: number, currency: string) => `${(amount / 100).toFixed(2)} ${currency}`;

async function main(): Promise<void> {
  const token = await signUpOrIn();
  const event = await chooseEvent();
  log(`event ${event.id} "${event.title}": ${event.ticketsAvailable} left at ${money(event.price, event.currency)}`);

  const client = createClient({
    url: `${API.replace(/^http/, 'ws')}/graphql`,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  try {
    // Notifications first: on one socket the server sets subscriptions up in order, so once the
    // stock feed has answered, this one is live too and cannot miss the payment's notification.
    const notified = signal<Notification>();
    const notifications = follow<{ notificationReceived: Notification }>(
      client,
      'subscription { notificationReceived { id kind title body orderId } }',
      {},
      ({ notificationReceived: n }) => {
        log(`notification ${n.kind}: ${n.title} (${n.body})`);
        if (n.kind === 'ORDER_SUCCEEDED') notified.resolve(n);
      },
    );

    step = 'following the stock';
    const firstStock = signal<StockUpdate>();
    const stock = follow<{ stockChanged: StockUpdate }>(
      client,
      'subscription ($eventId: ID!) { stockChanged(eventId: $eventId) { ticketsAvailable status } }',
      { eventId: event.id },
      ({ stockChanged: s }) => {
        log(`stock: ${s.ticketsAvailable} left (${s.status})`);
        firstStock.resolve(s);
      },
    );
    await Promise.race([firstStock.promise, stock, notifications]);

    step = 'booking';
    const idempotencyKey = randomUUID(); // one per purchase intent; a retry sends the same one
    const bookingFields = 'id status reason order { id amount currency status secondsLeft }';
    const { bookTicket } = await gql<{ bookTicket: Booking }>(
      `mutation ($eventId: ID!, $quantity: Int, $key: String!) {
        bookTicket(eventId: $eventId, quantity: $quantity, idempotencyKey: $key) { ${bookingFields} }
      }`,
      { eventId: event.id, quantity: QUANTITY, key: idempotencyKey },
      token,
    );
    log(`booking ${bookTicket.id}: ${bookTicket.status}${bookTicket.reason ? ` ${bookTicket.reason}` : ''}`);
    let booking = bookTicket;
    if (booking.status === 'QUEUED') {
      step = 'waiting for the booking decision';
      // bookingUpdated sends the booking as it is now, then its decision, then completes.
      await follow<{ bookingUpdated: Booking }>(
        client,
        `subscription ($id: ID!) { bookingUpdated(id: $id) { ${bookingFields} } }`,
        { id: booking.id },
        ({ bookingUpdated: b }) => {
          if (b.status !== 'QUEUED') log(`booking ${b.id}: ${b.status}${b.reason ? ` ${b.reason}` : ''}`);
          booking = b;
        },
      );
    }
    if (booking.status !== 'RESERVED' || !booking.order) {
      throw new Error(`booking ${booking.id} was ${booking.status} ${booking.reason ?? ''}`.trim());
    }
    const order = booking.order;
    log(
      `order ${order.id}: ${order.status}, ${money(order.amount, order.currency)}, pay within ${order.secondsLeft} s`,
    );

    step = 'paying';
    const succeeded = signal<Order>();
    const orderFeed = follow<{ orderUpdated: Order }>(
      client,
      'subscription ($id: ID!) { orderUpdated(id: $id) { id amount currency status secondsLeft } }',
      { id: order.id },
      ({ orderUpdated: o }) => {
        log(`order ${o.id}: ${o.status}`);
        if (o.status === 'SUCCEEDED') succeeded.resolve(o);
      },
    );
    const { payOrder } = await gql<{ payOrder: { provider: string; paymentIntentId: string; order: Order } }>(
      'mutation ($id: ID!) { payOrder(orderId: $id) { provider paymentIntentId order { status } } }',
      { id: order.id },
      token,
    );
    log(`payment ${payOrder.paymentIntentId} with ${payOrder.provider}: order ${payOrder.order.status}`);
    if (payOrder.provider !== 'free') {
      // The simulated card processor: it sends a signed Stripe-format webhook to the server.
      const { simulatePayment } = await gql<{ simulatePayment: Order }>(
        'mutation ($id: ID!) { simulatePayment(orderId: $id, outcome: SUCCEED) { status } }',
        { id: order.id },
        token,
      );
      log(`simulated card payment: order ${simulatePayment.status}`);
    }
    step = 'waiting for the order to succeed';
    await Promise.race([succeeded.promise, orderFeed]);
    step = 'waiting for the notification';
    const notification = await Promise.race([notified.promise, notifications]);
    if (!notification || notification.orderId !== order.id) throw new Error('notifications ended without ours');
    log(`done: order ${order.id} SUCCEEDED and notified`);
  } finally {
    await client.dispose();
  }
}

const timer = setTimeout(() => {
  console.error(`[buyer] failed: no answer within ${TIMEOUT_SECONDS} s while ${step}`);
  process.exit(1);
}, TIMEOUT_SECONDS * 1000);

main().then(
  () => {
    clearTimeout(timer);
  },
  (err: unknown) => {
    console.error(`[buyer] failed while ${step}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
