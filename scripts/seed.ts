/**
 * Demo data: an admin account and a handful of upcoming events, created through the same services
 * the API uses (so validation, stock rows and caches behave exactly as for `createEvent`).
 *
 * Idempotent: an admin whose e-mail exists, or an event whose title exists, is left as it is, so
 * running the demo again neither duplicates nor resets anything.
 */
import { createRequestContext, type App } from '../src/app.js';
import type { AuthUser } from '../src/context.js';
import { Event } from '../src/entities/event.entity.js';
import { User, UserRole } from '../src/entities/user.entity.js';
import type { CreateEventInput } from '../src/services/events/event.service.js';

/** Used when ADMIN_EMAILS is empty; the demo command sets ADMIN_EMAILS to it in that case. */
export const DEFAULT_ADMIN_EMAIL = 'admin@example.com';
/** Public on purpose: this account exists only in demo data. Documented in the README. */
export const DEMO_ADMIN_PASSWORD = 'flash-sale-demo';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Times are relative to `now`, so a fresh demo always has something on sale and something about to open. */
function demoEvents(now: number): CreateEventInput[] {
  const at = (offsetMs: number) => new Date(now + offsetMs);
  return [
    {
      title: 'Aurora Live at Riverside Arena',
      description:
        'The hot one: 10,000 seats, on sale right now. Aurora brings the full stage show of the "Northern Lights" tour.',
      venue: 'Riverside Arena, Portland',
      startsAt: at(21 * DAY + 20 * HOUR),
      saleStartsAt: at(-5 * MINUTE),
      price: 8900,
      currency: 'USD',
      ticketsTotal: 10_000,
      maxPerUser: 4,
    },
    {
      title: 'Late Night Jazz: The Marlowe Quartet',
      description: 'Standards and new originals from the Marlowe Quartet, two sets with a candle-lit bar.',
      venue: 'The Blue Room, New Orleans',
      startsAt: at(10 * DAY + 21 * HOUR),
      saleStartsAt: at(-2 * DAY),
      price: 4500,
      currency: 'USD',
      ticketsTotal: 220,
      maxPerUser: 4,
    },
    {
      title: 'Neon Skyline World Tour',
      description: 'Synth-pop headliners on their first world tour. The sale opens shortly: refresh and be quick.',
      venue: 'Olympiahalle, Munich',
      startsAt: at(42 * DAY + 19 * HOUR),
      saleStartsAt: at(10 * MINUTE),
      price: 7500,
      currency: 'EUR',
      ticketsTotal: 5000,
      maxPerUser: 2,
    },
    {
      title: 'Hamlet — National Theatre Company',
      description: 'A new production of Shakespeare’s tragedy, three hours with one interval.',
      venue: 'Lyric Theatre, London',
      startsAt: at(14 * DAY + 19 * HOUR),
      saleStartsAt: at(-1 * DAY),
      price: 6500,
      currency: 'GBP',
      ticketsTotal: 800,
      maxPerUser: 6,
    },
    {
      title: 'Harbour City FC vs. Northbridge United',
      description: 'League derby, kick-off 15:00. Home and away stands; children under 12 need an adult ticket holder.',
      venue: 'Harbour Stadium, Liverpool',
      startsAt: at(9 * DAY + 15 * HOUR),
      saleStartsAt: at(-3 * DAY),
      price: 4200,
      currency: 'GBP',
      ticketsTotal: 20_000,
      maxPerUser: 4,
    },
    {
      title: 'Sunfield Festival — Weekend Pass',
      description: 'Three days, four stages, camping included. Passes go on sale in two days.',
      venue: 'Sunfield Park, Lisbon',
      startsAt: at(90 * DAY),
      saleStartsAt: at(2 * DAY),
      price: 18_900,
      currency: 'EUR',
      ticketsTotal: 15_000,
      maxPerUser: 4,
    },
    {
      title: 'Stand-up Sundays: Comedy Cellar',
      description: 'Five comedians, one microphone, no phones. Strictly 18+.',
      venue: 'The Cellar, Dublin',
      startsAt: at(5 * DAY + 20 * HOUR),
      saleStartsAt: at(-7 * DAY),
      price: 2000,
      currency: 'EUR',
      ticketsTotal: 120,
      maxPerUser: 2,
    },
  ];
}

export interface SeedSummary {
  admin: { email: string; password: string; created: boolean };
  events: { id: string; title: string; created: boolean }[];
}

export async function seedDemoData(app: App, now = Date.now()): Promise<SeedSummary> {
  const email = [...app.config.auth.adminEmails][0] ?? DEFAULT_ADMIN_EMAIL;
  const anonymous = createRequestContext(app, null, 'seed');

  let admin = await anonymous.em.findOne(User, { email });
  const adminCreated = !admin;
  if (!admin) {
    // Through sign-up, as a person would: the ADMIN role comes from ADMIN_EMAILS.
    const { user } = await app.services.auth.signUp(anonymous, {
      email,
      password: DEMO_ADMIN_PASSWORD,
      name: 'Demo Admin',
    });
    admin = user;
  }
  // Services are called directly here, as the admin; no token is issued, so none expires.
  const adminUser: AuthUser = {
    id: admin.id,
    email: admin.email,
    role: UserRole.ADMIN,
    tokenVersion: admin.tokenVersion,
    expiresAtMs: Number.MAX_SAFE_INTEGER,
  };

  const events: SeedSummary['events'] = [];
  for (const input of demoEvents(now)) {
    // A fresh context (and EntityManager fork) per event, as each would be its own request.
    const ctx = createRequestContext(app, adminUser, 'seed');
    const existing = await ctx.em.findOne(Event, { title: input.title });
    if (existing) {
      events.push({ id: existing.id, title: existing.title, created: false });
      continue;
    }
    const { event } = await app.services.events.create(ctx, input);
    events.push({ id: event.id, title: event.title, created: true });
  }
  return { admin: { email, password: DEMO_ADMIN_PASSWORD, created: adminCreated }, events };
}
