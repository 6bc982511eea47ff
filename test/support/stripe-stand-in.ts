import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

/**
 * A local stand-in for the part of the Stripe API our driver uses, so tests run the real SDK over
 * real HTTP without a network or an account. It keeps Stripe's idempotency rule (same key, same
 * answer; same key with other parameters is an error) and its error shapes.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  body: Record<string, unknown>;
  status: number;
}

interface StandInIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_received: number;
  currency: string;
  status: string;
  client_secret: string;
  metadata: Record<string, unknown>;
  automatic_payment_methods: unknown;
  description: string | null;
  latest_charge: string | null;
  last_payment_error: Record<string, unknown> | null;
  canceled_at: number | null;
  created: number;
  livemode: false;
}

interface Answer {
  status: number;
  body: unknown;
}

/** Where an injected failure hits: before any work, or after the work is done (the answer is lost). */
export type FailurePoint = 'before' | 'after';

const CANCELABLE = new Set(['requires_payment_method', 'requires_confirmation', 'requires_action', 'requires_capture']);

export class StripeStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly intents = new Map<string, StandInIntent>();
  readonly refunds = new Map<string, { id: string; payment_intent: string; amount: number }>();
  private readonly replays = new Map<string, { fingerprint: string; answer: Answer }>();
  private failures = { remaining: 0, status: 500, at: 'before' as FailurePoint };
  private server: Server | undefined;

  constructor(private readonly options: { webhookSecret?: string } = {}) {}

  /** Base URL for `StripeGateway({ apiUrl })`. */
  get url(): string {
    if (!this.server) throw new Error('Stripe stand-in is not started');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections(); // the SDK keeps connections alive
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  }

  /** The buyer paid: the intent succeeds (no webhook; call `sendWebhook` for that). */
  succeed(intentId: string): void {
    const intent = this.intent(intentId);
    Object.assign(intent, { status: 'succeeded', amount_received: intent.amount, latest_charge: `ch_${id()}` });
  }

  /** The card was declined: Stripe returns the intent to requires_payment_method. */
  fail(intentId: string): void {
    Object.assign(this.intent(intentId), {
      status: 'requires_payment_method',
      last_payment_error: { type: 'card_error', code: 'card_declined', message: 'Your card was declined.' },
    });
  }

  /** The next `count` requests are answered with `status` (e.g. 500) to exercise the SDK's retries. */
  failNext(count: number, status = 500, at: FailurePoint = 'before'): void {
    this.failures = { remaining: count, status, at };
  }

  intent(intentId: string): StandInIntent {
    const intent = this.intents.get(intentId);
    if (!intent) throw new Error(`Stripe stand-in has no intent ${intentId}`);
    return intent;
  }

  /** Sends a Stripe-signed event about the intent to `url`, as Stripe's webhook delivery would. */
  async sendWebhook(url: string, type: string, intentId: string): Promise<{ status: number; eventId: string }> {
    const secret = this.options.webhookSecret;
    if (!secret) throw new Error('Stripe stand-in needs a webhookSecret to sign events');
    const intent = this.intent(intentId);
    const object = type.startsWith('charge.')
      ? {
          id: intent.latest_charge ?? `ch_${id()}`,
          object: 'charge',
          amount: intent.amount,
          amount_refunded: type === 'charge.refunded' ? intent.amount : 0,
          refunded: type === 'charge.refunded',
          currency: intent.currency,
          payment_intent: intent.id,
          metadata: intent.metadata, // Stripe copies the intent's metadata onto its charge
        }
      : { ...intent };
    const event = {
      id: `evt_${id()}`,
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: now(),
      type,
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
    };
    const payload = JSON.stringify(event);
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'Stripe-Signature': Stripe.webhooks.generateTestHeaderString({ payload, secret }),
      },
      body: payload,
    });
    await response.arrayBuffer();
    return { status: response.status, eventId: event.id };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const header = req.headers['idempotency-key'];
    const idempotencyKey = Array.isArray(header) ? header[0] : header;
    // GET parameters travel in the query string; treat them like a form body.
    const body = parseForm(method === 'GET' ? ((req.url ?? '').split('?')[1] ?? '') : raw);

    let answer: Answer;
    const injected = this.takeFailure();
    if (injected && injected.at === 'before') {
      answer = apiError(injected.status, 'api_error', undefined, 'Injected failure (before processing)');
    } else {
      answer = this.answer(method, path, idempotencyKey, raw, body, req.headers.authorization);
      if (injected) answer = apiError(injected.status, 'api_error', undefined, 'Injected failure (after processing)');
    }
    this.requests.push({ method, path, idempotencyKey, body, status: answer.status });
    res.writeHead(answer.status, { 'Content-Type': 'application/json', 'Request-Id': `req_${id()}` });
    res.end(JSON.stringify(answer.body));
  }

  private takeFailure(): { status: number; at: FailurePoint } | undefined {
    if (this.failures.remaining <= 0) return undefined;
    this.failures.remaining -= 1;
    return { status: this.failures.status, at: this.failures.at };
  }

  /** Stripe's idempotency: a key replays its first answer; reused with other parameters, it is refused. */
  private answer(
    method: string,
    path: string,
    key: string | undefined,
    raw: string,
    body: Record<string, unknown>,
    authorization: string | undefined,
  ): Answer {
    if (!authorization?.startsWith('Bearer sk_')) {
      return apiError(401, 'invalid_request_error', undefined, 'Invalid API Key provided');
    }
    if (method !== 'POST' || !key) return this.route(method, path, body);
    const fingerprint = `${method} ${path} ${raw}`;
    const seen = this.replays.get(key);
    if (seen) {
      if (seen.fingerprint === fingerprint) return seen.answer;
      return apiError(
        400,
        'idempotency_error',
        undefined,
        `Keys for idempotent requests can only be used with the same parameters they were first used with.`,
      );
    }
    const answer = this.route(method, path, body);
    this.replays.set(key, { fingerprint, answer });
    return answer;
  }

  private route(method: string, path: string, body: Record<string, unknown>): Answer {
    const match = /^\/v1\/payment_intents(?:\/([^/]+)(\/cancel)?)?$/.exec(path);
    if (match && method === 'POST' && !match[1]) return this.createIntent(body);
    if (match?.[1] && method === 'GET' && !match[2]) return this.found(match[1], (intent) => ok(intent));
    if (match?.[1] && method === 'POST' && match[2]) return this.found(match[1], (intent) => this.cancel(intent));
    if (path === '/v1/refunds' && method === 'POST') return this.refund(body);
    if (path === '/v1/refunds' && method === 'GET') return this.listRefunds(body);
    return apiError(404, 'invalid_request_error', 'resource_missing', `Unrecognized request URL (${method}: ${path})`);
  }

  private createIntent(body: Record<string, unknown>): Answer {
    const amount = Number(body.amount);
    const currency = typeof body.currency === 'string' ? body.currency : '';
    if (!Number.isInteger(amount) || amount < 1)
      return apiError(400, 'invalid_request_error', 'parameter_invalid_integer', 'Invalid integer: amount');
    if (!/^[a-z]{3}$/.test(currency))
      return apiError(400, 'invalid_request_error', 'parameter_invalid', 'Invalid currency');
    const intentId = `pi_${id()}`;
    const intent: StandInIntent = {
      id: intentId,
      object: 'payment_intent',
      amount,
      amount_received: 0,
      currency,
      status: 'requires_payment_method',
      client_secret: `${intentId}_secret_${id()}`,
      metadata: (body.metadata as Record<string, unknown> | undefined) ?? {},
      automatic_payment_methods: body.automatic_payment_methods ?? null,
      description: typeof body.description === 'string' ? body.description : null,
      latest_charge: null,
      last_payment_error: null,
      canceled_at: null,
      created: now(),
      livemode: false,
    };
    this.intents.set(intentId, intent);
    return ok(intent);
  }

  private cancel(intent: StandInIntent): Answer {
    if (!CANCELABLE.has(intent.status)) {
      return apiError(
        400,
        'invalid_request_error',
        'payment_intent_unexpected_state',
        `You cannot cancel this PaymentIntent because it has a status of ${intent.status}.`,
        { payment_intent: { ...intent } },
      );
    }
    Object.assign(intent, { status: 'canceled', canceled_at: now() });
    return ok(intent);
  }

  private refund(body: Record<string, unknown>): Answer {
    return this.found(typeof body.payment_intent === 'string' ? body.payment_intent : '', (intent) => {
      if (intent.status !== 'succeeded') {
        return apiError(
          400,
          'invalid_request_error',
          'payment_intent_unexpected_state',
          'This PaymentIntent does not have a successful charge to refund.',
        );
      }
      if ([...this.refunds.values()].some((r) => r.payment_intent === intent.id)) {
        return apiError(
          400,
          'invalid_request_error',
          'charge_already_refunded',
          `Charge ${intent.latest_charge} has already been refunded.`,
        );
      }
      const refund = { id: `re_${id()}`, payment_intent: intent.id, amount: intent.amount };
      this.refunds.set(refund.id, refund);
      return ok({
        ...refund,
        object: 'refund',
        currency: intent.currency,
        status: 'succeeded',
        charge: intent.latest_charge,
      });
    });
  }

  private listRefunds(query: Record<string, unknown>): Answer {
    const refunds = [...this.refunds.values()]
      .filter((r) => r.payment_intent === query['payment_intent'])
      .map((r) => ({ ...r, object: 'refund', status: 'succeeded' }));
    return ok({ object: 'list', data: refunds, has_more: false, url: '/v1/refunds' });
  }

  private found(intentId: string, then: (intent: StandInIntent) => Answer): Answer {
    const intent = this.intents.get(intentId);
    if (!intent)
      return apiError(404, 'invalid_request_error', 'resource_missing', `No such payment_intent: '${intentId}'`);
    return then(intent);
  }
}

export async function startStripeStandIn(options: { webhookSecret?: string } = {}): Promise<StripeStandIn> {
  const standIn = new StripeStandIn(options);
  await standIn.start();
  return standIn;
}

function ok(body: unknown): Answer {
  // A snapshot, so a replayed answer shows the object as it was, like Stripe's idempotency layer.
  return { status: 200, body: structuredClone(body) };
}

function apiError(status: number, type: string, code: string | undefined, message: string, extra: object = {}): Answer {
  return { status, body: { error: { type, ...(code ? { code } : {}), message, ...extra } } };
}

/** Decodes the SDK's form encoding, including nested keys like `metadata[orderId]`. */
function parseForm(raw: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const [head = key, ...rest] = key.split('[').map((part) => part.replace(/]$/, ''));
    let target = out;
    let name = head;
    for (const part of rest) {
      const next = (target[name] ??= {}) as Record<string, unknown>;
      target = next;
      name = part;
    }
    target[name] = value;
  }
  return out;
}

function id(): string {
  return randomBytes(12).toString('hex');
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}
