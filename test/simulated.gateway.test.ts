import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedGateway, WebhookDeliveryError } from '../src/infra/payments/simulated.gateway.js';
import { verifyStripeWebhook, WebhookSignatureError } from '../src/infra/payments/webhook-signature.js';

const SECRET = 'whsec_test_simulated';

interface Delivery {
  raw: Buffer;
  headers: IncomingHttpHeaders;
}

/** A real HTTP receiver standing where the app's webhook route will be; it keeps the raw bytes. */
describe('SimulatedGateway', () => {
  let server: Server;
  let deliveries: Delivery[];
  let answerStatus: number;
  let gateway: SimulatedGateway;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        deliveries.push({ raw: Buffer.concat(chunks), headers: req.headers });
        res.writeHead(answerStatus).end(answerStatus < 300 ? '{"received":true}' : '{"error":"nope"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    gateway = new SimulatedGateway({
      webhookSecret: SECRET,
      webhookUrl: () => `http://127.0.0.1:${port}/webhooks/stripe`,
    });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    deliveries = [];
    answerStatus = 200;
  });

  const newIntent = (key = randomUUID()) =>
    gateway.createIntent({ orderId: randomUUID(), amount: 4200, currency: 'usd', idempotencyKey: key });

  const onlyDelivery = (): Delivery => {
    expect(deliveries).toHaveLength(1);
    return deliveries[0]!;
  };
  const signatureOf = (d: Delivery) => d.headers['stripe-signature'] as string | undefined;

  it('creates pi_sim intents with a matching client secret, once per idempotency key', async () => {
    const key = randomUUID();
    const first = await newIntent(key);
    const again = await newIntent(key);
    const other = await newIntent();

    expect(first).toMatchObject({ status: 'requires_payment_method', amount: 4200, currency: 'USD' });
    expect(first.id).toMatch(/^pi_sim_[0-9a-f]+$/);
    expect(first.clientSecret).toMatch(new RegExp(`^${first.id}_secret_[0-9a-f]+$`));
    expect(again).toEqual(first);
    expect(other.id).not.toBe(first.id);
  });

  it('completes a payment with a signed payment_intent.succeeded event that the verifier accepts', async () => {
    const intent = await newIntent();
    const orderId = randomUUID();

    await gateway.complete({ id: intent.id, orderId, amount: 4200, currency: 'USD' }, 'succeeded');

    const delivery = onlyDelivery();
    expect(signatureOf(delivery)).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const event = verifyStripeWebhook(delivery.raw, signatureOf(delivery), SECRET);
    expect(event.id).toMatch(/^evt_sim_/);
    expect(event.type).toBe('payment_intent.succeeded');
    expect(Math.abs(event.created - Date.now() / 1000)).toBeLessThan(60);
    expect(event.data.object).toMatchObject({
      id: intent.id,
      object: 'payment_intent',
      status: 'succeeded',
      amount: 4200,
      amount_received: 4200,
      currency: 'usd',
      metadata: { orderId },
    });
  });

  it('declines a payment with payment_intent.payment_failed and leaves the intent payable again', async () => {
    const intent = await newIntent();

    await gateway.complete({ id: intent.id, orderId: randomUUID(), amount: 4200, currency: 'USD' }, 'failed');

    const event = verifyStripeWebhook(onlyDelivery().raw, signatureOf(onlyDelivery()), SECRET);
    expect(event.type).toBe('payment_intent.payment_failed');
    expect(event.data.object).toMatchObject({
      status: 'requires_payment_method',
      last_payment_error: { code: 'card_declined' },
    });
    await expect(gateway.retrieveIntent(intent.id)).resolves.toMatchObject({ status: 'requires_payment_method' });
  });

  it('gives every event its own id', async () => {
    const intent = await newIntent();
    const ref = { id: intent.id, orderId: randomUUID(), amount: 4200, currency: 'USD' };
    await gateway.complete(ref, 'failed');
    await gateway.complete(ref, 'failed');

    const ids = deliveries.map((d) => verifyStripeWebhook(d.raw, signatureOf(d), SECRET).id);
    expect(new Set(ids).size).toBe(2);
  });

  it('cancels an unpaid intent, but reports already_succeeded for one it completed', async () => {
    const unpaid = await newIntent();
    const paid = await newIntent();
    await gateway.complete({ id: paid.id, orderId: randomUUID(), amount: 4200, currency: 'USD' }, 'succeeded');

    await expect(gateway.cancelIntent(unpaid.id, randomUUID())).resolves.toEqual({ outcome: 'canceled' });
    await expect(gateway.cancelIntent(paid.id, randomUUID())).resolves.toEqual({ outcome: 'already_succeeded' });
  });

  it('refunds with a re_sim id, the same one for the same key', async () => {
    const intent = await newIntent();
    const key = randomUUID();
    const first = await gateway.refund(intent.id, key);

    expect(first).toEqual({ id: expect.stringMatching(/^re_sim_/), status: 'succeeded' });
    await expect(gateway.refund(intent.id, key)).resolves.toEqual(first);
    expect((await gateway.refund(intent.id, randomUUID())).id).not.toBe(first.id);
  });

  it('sends arbitrary event types, signed the same way', async () => {
    await gateway.sendEvent('charge.refunded', {
      id: 'ch_sim_1',
      object: 'charge',
      payment_intent: 'pi_sim_1',
      refunded: true,
    });

    const event = verifyStripeWebhook(onlyDelivery().raw, signatureOf(onlyDelivery()), SECRET);
    expect(event).toMatchObject({ type: 'charge.refunded', data: { object: { payment_intent: 'pi_sim_1' } } });
  });

  it('fails a completion the webhook route does not accept, so the caller can repeat it', async () => {
    const intent = await newIntent();
    answerStatus = 503;

    const attempt = gateway.complete(
      { id: intent.id, orderId: randomUUID(), amount: 4200, currency: 'USD' },
      'succeeded',
    );

    await expect(attempt).rejects.toBeInstanceOf(WebhookDeliveryError);
    await expect(attempt).rejects.toMatchObject({ status: 503 });
    // Not recorded as paid, so cancelling is still allowed, as the app never learned of the payment.
    await expect(gateway.cancelIntent(intent.id, randomUUID())).resolves.toEqual({ outcome: 'canceled' });
  });

  describe('verifyStripeWebhook rejects', () => {
    let delivery: Delivery;
    beforeEach(async () => {
      await gateway.sendEvent('payment_intent.canceled', {
        id: 'pi_sim_x',
        object: 'payment_intent',
        status: 'canceled',
      });
      delivery = onlyDelivery();
    });

    const rejection = (run: () => unknown) => {
      try {
        run();
      } catch (err) {
        expect(err).toBeInstanceOf(WebhookSignatureError);
        return (err as WebhookSignatureError).reason;
      }
      throw new Error('expected a WebhookSignatureError');
    };

    it('an event signed with another secret', () => {
      expect(rejection(() => verifyStripeWebhook(delivery.raw, signatureOf(delivery), 'whsec_other'))).toBe(
        'bad_signature',
      );
    });

    it('a body changed after signing', () => {
      const tampered = delivery.raw.toString('utf8').replace('"canceled"', '"succeeded"');
      expect(tampered).not.toBe(delivery.raw.toString('utf8'));
      expect(rejection(() => verifyStripeWebhook(tampered, signatureOf(delivery), SECRET))).toBe('bad_signature');
    });

    it('a request without a Stripe-Signature header', () => {
      expect(rejection(() => verifyStripeWebhook(delivery.raw, undefined, SECRET))).toBe('missing_signature');
    });

    it('a signature older than the 300 s tolerance, even with the right secret', () => {
      const payload = delivery.raw.toString('utf8');
      const stale = Stripe.webhooks.generateTestHeaderString({
        payload,
        secret: SECRET,
        timestamp: Math.floor(Date.now() / 1000) - 301,
      });
      const fresh = Stripe.webhooks.generateTestHeaderString({
        payload,
        secret: SECRET,
        timestamp: Math.floor(Date.now() / 1000) - 240,
      });

      expect(rejection(() => verifyStripeWebhook(payload, stale, SECRET))).toBe('bad_signature');
      expect(verifyStripeWebhook(payload, fresh, SECRET).type).toBe('payment_intent.canceled');
    });

    it('a correctly signed body that is not an event', () => {
      const payload = JSON.stringify({ hello: 'world' });
      const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET });
      expect(rejection(() => verifyStripeWebhook(payload, header, SECRET))).toBe('malformed_event');
    });
  });
});
