import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StripeGateway } from '../src/infra/payments/stripe.gateway.js';
import { verifyStripeWebhook } from '../src/infra/payments/webhook-signature.js';
import { startStripeStandIn, type StripeStandIn } from './support/stripe-stand-in.js';

const WEBHOOK_SECRET = 'whsec_test_stand_in';

/** The real Stripe SDK, over real HTTP, against a local stand-in of the Stripe API. */
describe('StripeGateway', () => {
  let stripe: StripeStandIn;
  let gateway: StripeGateway;

  beforeAll(async () => {
    stripe = await startStripeStandIn({ webhookSecret: WEBHOOK_SECRET });
    gateway = new StripeGateway({ secretKey: 'sk_test_stand_in', apiUrl: stripe.url, timeoutMs: 5_000 });
  });
  afterAll(async () => {
    await stripe.stop();
  });

  const newIntent = (key = randomUUID(), orderId = randomUUID()) =>
    gateway.createIntent({ orderId, amount: 2500, currency: 'EUR', idempotencyKey: key });

  const creates = (key: string) =>
    stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents' && r.idempotencyKey === key);

  it('creates an intent in minor units, sends a lower-case currency and the order id, and answers in upper case', async () => {
    const key = randomUUID();
    const orderId = randomUUID();
    const intent = await newIntent(key, orderId);

    expect(intent).toMatchObject({ amount: 2500, currency: 'EUR', status: 'requires_payment_method' });
    expect(intent.id).toMatch(/^pi_/);
    expect(intent.clientSecret.startsWith(`${intent.id}_secret_`)).toBe(true);
    const [request] = creates(key);
    expect(request?.body).toEqual({
      amount: '2500',
      currency: 'eur',
      metadata: { orderId },
      automatic_payment_methods: { enabled: 'true' },
    });
    expect(stripe.intent(intent.id).currency).toBe('eur');
  });

  it('returns the same intent for the same idempotency key and creates it only once', async () => {
    const key = randomUUID();
    const orderId = randomUUID();
    const before = stripe.intents.size;

    const first = await newIntent(key, orderId);
    const second = await newIntent(key, orderId);

    expect(second.id).toBe(first.id);
    expect(stripe.intents.size).toBe(before + 1);
  });

  it('retries a 500 with the same idempotency key and still creates one intent', async () => {
    const key = randomUUID();
    const before = stripe.intents.size;
    // The worst case: Stripe did the work, but the answer was lost twice.
    stripe.failNext(2, 500, 'after');

    const intent = await newIntent(key);

    expect(creates(key).map((r) => r.status)).toEqual([500, 500, 200]);
    expect(stripe.intents.size).toBe(before + 1);
    expect(stripe.intents.has(intent.id)).toBe(true);
  });

  it('gives up after two retries and reports the failure', async () => {
    const key = randomUUID();
    stripe.failNext(3, 500, 'before');

    await expect(newIntent(key)).rejects.toThrow(/Injected failure/);
    expect(creates(key)).toHaveLength(3);
  });

  it('cancels an unpaid intent, and cancelling it again still counts as cancelled', async () => {
    const intent = await newIntent();

    await expect(gateway.cancelIntent(intent.id, randomUUID())).resolves.toEqual({ outcome: 'canceled' });
    await expect(gateway.retrieveIntent(intent.id)).resolves.toMatchObject({ status: 'canceled', currency: 'EUR' });
    await expect(gateway.cancelIntent(intent.id, randomUUID())).resolves.toEqual({ outcome: 'canceled' });
  });

  it('reports already_succeeded instead of cancelling an intent that was paid', async () => {
    const intent = await newIntent();
    stripe.succeed(intent.id);

    await expect(gateway.cancelIntent(intent.id, randomUUID())).resolves.toEqual({ outcome: 'already_succeeded' });
    expect(stripe.intent(intent.id).status).toBe('succeeded');
  });

  it('refunds a paid intent once however often the refund is retried with its key', async () => {
    const intent = await newIntent();
    stripe.succeed(intent.id);
    const key = randomUUID();

    const first = await gateway.refund(intent.id, key);
    const second = await gateway.refund(intent.id, key);

    expect(first).toEqual({ id: expect.stringMatching(/^re_/), status: 'succeeded' });
    expect(second.id).toBe(first.id);
    expect([...stripe.refunds.values()].filter((r) => r.payment_intent === intent.id)).toHaveLength(1);
  });

  it('answers a refund under a new key for an intent refunded already with the existing refund', async () => {
    const intent = await newIntent();
    stripe.succeed(intent.id);
    const first = await gateway.refund(intent.id, randomUUID());
    // E.g. a retry a day later, after Stripe forgot the first key, or a refund made in the dashboard.
    const later = await gateway.refund(intent.id, randomUUID());
    expect(later).toEqual({ id: first.id, status: 'succeeded' });
    expect([...stripe.refunds.values()].filter((r) => r.payment_intent === intent.id)).toHaveLength(1);
  });

  it("signs the stand-in's webhooks the way verifyStripeWebhook expects, with the order id on the object", async () => {
    const orderId = randomUUID();
    const intent = await newIntent(randomUUID(), orderId);
    stripe.succeed(intent.id);
    const received: { raw: Buffer; signature: string | undefined }[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ raw: Buffer.concat(chunks), signature: req.headers['stripe-signature'] as string | undefined });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/stripe`;
      await expect(stripe.sendWebhook(url, 'payment_intent.succeeded', intent.id)).resolves.toMatchObject({
        status: 200,
      });
      await expect(stripe.sendWebhook(url, 'charge.refunded', intent.id)).resolves.toMatchObject({ status: 200 });
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }

    const [paid, refunded] = received.map((r) => verifyStripeWebhook(r.raw, r.signature, WEBHOOK_SECRET));
    expect(paid).toMatchObject({
      type: 'payment_intent.succeeded',
      data: { object: { id: intent.id, status: 'succeeded', metadata: { orderId } } },
    });
    expect(refunded).toMatchObject({
      type: 'charge.refunded',
      data: { object: { payment_intent: intent.id, refunded: true, metadata: { orderId } } },
    });
  });
});
