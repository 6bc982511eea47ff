/**
 * An operator: signs in as an admin, creates an event that is on sale at once, and watches it sell
 * live (stockChanged) until it is sold out or the watch time is over.
 *
 *   npm run example:operator                               # against `npm run demo`
 *   TICKETS=4 npm run example:operator                     # then, in another shell:
 *   EVENT_ID=<the id it printed> QUANTITY=4 npm run example:buyer
 *
 * Environment (all optional): API (http://127.0.0.1:4000), ADMIN_EMAIL (admin@example.com),
 * ADMIN_PASSWORD (flash-sale-demo, the demo admin's), TICKETS (10), PRICE (2500, in cents),
 * CURRENCY (USD), WATCH_SECONDS (120). Exits 0 when the event sold out or the watch time ended,
 * 1 with the reason otherwise.
 *
 * One self-contained file on purpose: copy it into a tool as a starting point. It runs on the
 * project's Node 24 (`npm run` uses it), which has fetch and WebSocket built in.
 */
import { createClient } from 'graphql-ws';

const API = (process.env['API'] ?? 'http://127.0.0.1:4000').replace(/\/+$/, '');
const EMAIL = process.env['ADMIN_EMAIL'] ?? 'admin@example.com';
const PASSWORD = process.env['ADMIN_PASSWORD'] ?? 'flash-sale-demo';
const TICKETS = Number(process.env['TICKETS'] ?? 10);
const PRICE = Number(process.env['PRICE'] ?? 2500);
const CURRENCY = process.env['CURRENCY'] ?? 'USD';
const WATCH_SECONDS = Number(process.env['WATCH_SECONDS'] ?? 120);

const log = (line: string) => console.log(`[operator] ${line}`);
const fail = (message: string): never => {
  console.error(`[operator] failed: ${message}`);
  process.exit(1);
};

/** Sends one operation over HTTP; fails with the error's code and message. */
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
    return fail(`cannot reach ${API}/graphql (${(err as Error).message}); is the server running (npm run demo)?`);
  }
  const body = (await res.json()) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
  const error = body.errors?.[0];
  if (error || !body.data) return fail(`${error?.extensions?.code ?? `HTTP ${res.status}`}: ${error?.message}`);
  return body.data;
}

interface StockUpdate {
  ticketsAvailable: number;
  status: string;
}

async function main(): Promise<void> {
  const { signIn } = await gql<{ signIn: { token: string; user: { role: string } } }>(
    'mutation ($email: String!, $password: String!) { signIn(email: $email, password: $password) { token user { role } } }',
    { email: EMAIL, password: PASSWORD },
  );
  if (signIn.user.role !== 'ADMIN') fail(`${EMAIL} is not an admin: list it in the server's ADMIN_EMAILS`);
  log(`signed in as ${EMAIL} (ADMIN)`);

  const now = Date.now();
  const { createEvent: event } = await gql<{ createEvent: { id: string; title: string; ticketsTotal: number } }>(
    'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id title ticketsTotal status } }',
    {
      input: {
        title: `Pop-up show ${new Date(now).toISOString().slice(0, 16).replace('T', ' ')}`,
        description: 'Created by examples/operator.ts.',
        venue: 'The Example Hall',
        startsAt: new Date(now + 7 * 24 * 3600_000).toISOString(),
        saleStartsAt: new Date(now).toISOString(), // on sale at once
        price: PRICE,
        currency: CURRENCY,
        ticketsTotal: TICKETS,
        maxPerUser: Math.min(4, TICKETS),
      },
    },
    signIn.token,
  );
  log(`created event ${event.id} "${event.title}" with ${event.ticketsTotal} tickets, on sale now`);
  log(`buy some with: EVENT_ID=${event.id} npm run example:buyer`);

  // Browsing is public: the stock feed needs no token.
  const client = createClient({ url: `${API.replace(/^http/, 'ws')}/graphql`, retryAttempts: 0 });
  const last = await new Promise<StockUpdate | null>((resolve, reject) => {
    let latest: StockUpdate | null = null;
    const timer = setTimeout(() => resolve(latest), WATCH_SECONDS * 1000);
    client.subscribe<{ stockChanged: StockUpdate }>(
      {
        query: 'subscription ($eventId: ID!) { stockChanged(eventId: $eventId) { ticketsAvailable status } }',
        variables: { eventId: event.id },
      },
      {
        next: ({ data, errors }) => {
          if (errors?.length || !data) return reject(new Error(`stockChanged: ${JSON.stringify(errors)}`));
          latest = data.stockChanged;
          log(`stock: ${latest.ticketsAvailable} of ${event.ticketsTotal} left (${latest.status})`);
          if (latest.status === 'SOLD_OUT' || latest.ticketsAvailable === 0) {
            clearTimeout(timer);
            resolve(latest);
          }
        },
        error: (err) => reject(err instanceof Error ? err : new Error(`websocket: ${JSON.stringify(err)}`)),
        complete: () => resolve(latest),
      },
    );
  });
  await client.dispose();
  if (!last) fail(`no stock update for event ${event.id} within ${WATCH_SECONDS} s`);
  const sold = event.ticketsTotal - (last?.ticketsAvailable ?? event.ticketsTotal);
  if (last?.status === 'SOLD_OUT' || last?.ticketsAvailable === 0) log(`sold out: ${sold} of ${event.ticketsTotal}`);
  else log(`stopped watching after ${WATCH_SECONDS} s: ${sold} of ${event.ticketsTotal} sold`);
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
