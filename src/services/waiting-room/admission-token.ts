import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * A signed admission: `<user id>.<event id>.<admitted until, epoch ms>.<HMAC-SHA256>`, so any
 * gateway checks a bookTicket against it with one HMAC and no round trip. Bound to the buyer and the
 * event (a token passed to someone else, or used on another event, does not verify) and to the
 * expiry. The key is derived from JWT_SECRET for this one purpose, so an access token never
 * verifies as an admission or the other way round.
 */
export class AdmissionTokens {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHmac('sha256', secret).update('waiting-room admission v1').digest();
  }

  issue(userId: string, eventId: string, admittedUntil: Date): string {
    const body = `${userId}.${eventId}.${admittedUntil.getTime()}`;
    return `${body}.${this.sign(body)}`;
  }

  /** True when the token is ours, for this buyer and event, and not expired at `nowMs`. */
  verify(token: string, userId: string, eventId: string, nowMs: number): boolean {
    if (token.length > 200) return false;
    const cut = token.lastIndexOf('.');
    if (cut < 0) return false;
    const body = token.slice(0, cut);
    const [tokenUser, tokenEvent, until, extra] = body.split('.');
    if (extra !== undefined || tokenUser !== userId || tokenEvent !== eventId || !/^\d{1,15}$/.test(until ?? '')) {
      return false;
    }
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(token.slice(cut + 1));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    return Number(until) > nowMs;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
