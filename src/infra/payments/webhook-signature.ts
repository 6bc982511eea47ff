import Stripe from 'stripe';

/**
 * Verifies a Stripe webhook before anything reads it (docs/design.md, Habits). Both drivers end here:
 * Stripe signs its events, and the simulated processor signs its own the same way.
 */

/** The part of a Stripe event the webhook mapping reads; the rest is ignored on purpose. */
export interface StripeEventLike {
  id: string;
  type: string;
  /** Unix seconds at which the provider created the event. */
  created: number;
  data: { object: Record<string, unknown> };
}

export const WebhookRejection = {
  /** No `Stripe-Signature` header at all. */
  MISSING_SIGNATURE: 'missing_signature',
  /** Wrong secret, tampered body, unparsable header, or a timestamp outside the tolerance. */
  BAD_SIGNATURE: 'bad_signature',
  /** Signed correctly, but not JSON in the shape of an event. */
  MALFORMED_EVENT: 'malformed_event',
} as const;
export type WebhookRejection = (typeof WebhookRejection)[keyof typeof WebhookRejection];

/** The route answers 400 for every one of these and never looks at the body. */
export class WebhookSignatureError extends Error {
  constructor(
    readonly reason: WebhookRejection,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookSignatureError';
  }
}

/** How far a signature's timestamp may be from now, either way (Stripe's default). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * `rawBody` must be the exact bytes received: re-serialised JSON no longer matches the signature.
 * The tolerance bounds how long a captured request can be replayed; the event id (stored once)
 * covers replays inside that window. Stripe's check only refuses old timestamps; one far ahead
 * (a request signed now for replay tomorrow) is refused here.
 */
export function verifyStripeWebhook(
  rawBody: Buffer | string,
  signatureHeader: string | undefined,
  secret: string,
): StripeEventLike {
  if (!signatureHeader) {
    throw new WebhookSignatureError(WebhookRejection.MISSING_SIGNATURE, 'No Stripe-Signature header');
  }
  let event: unknown;
  try {
    event = Stripe.webhooks.constructEvent(rawBody, signatureHeader, secret, WEBHOOK_TOLERANCE_SECONDS);
  } catch (err) {
    if (err instanceof Stripe.errors.StripeSignatureVerificationError) {
      throw new WebhookSignatureError(WebhookRejection.BAD_SIGNATURE, err.message);
    }
    // Only reachable with a valid signature: the signer sent something that is not JSON.
    throw new WebhookSignatureError(WebhookRejection.MALFORMED_EVENT, `Unreadable event: ${String(err)}`);
  }
  if (signedAt(signatureHeader) > Date.now() / 1000 + WEBHOOK_TOLERANCE_SECONDS) {
    throw new WebhookSignatureError(WebhookRejection.BAD_SIGNATURE, 'Timestamp is too far in the future');
  }
  if (!isEventLike(event)) {
    throw new WebhookSignatureError(WebhookRejection.MALFORMED_EVENT, 'Event lacks id, type, created or data.object');
  }
  return event;
}

/** The header's `t=` as Stripe reads it (the last one wins), which the verified signature covers. */
function signedAt(header: string): number {
  let timestamp = Number.NaN;
  for (const item of header.split(',')) {
    const [key, value] = item.split('=');
    if (key === 't') timestamp = Number.parseInt(value ?? '', 10);
  }
  // Unreadable cannot happen after a valid signature; refuse it all the same.
  return Number.isNaN(timestamp) ? Number.POSITIVE_INFINITY : timestamp;
}

function isEventLike(value: unknown): value is StripeEventLike {
  if (!isRecord(value) || !isRecord(value.data)) return false;
  return (
    typeof value.id === 'string' &&
    typeof value.type === 'string' &&
    typeof value.created === 'number' &&
    isRecord(value.data.object)
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
