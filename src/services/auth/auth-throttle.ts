import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { RateLimitedError, UnavailableError } from '../../errors.js';
import type { HealthMonitor } from '../../infra/health.js';
import type { AttemptLimiter, BackOff } from '../../infra/attempt-limiter.js';

export interface AuthThrottleConfig {
  signInFailuresPerAccount: number;
  signInFailuresPerAddress: number;
  signInBackoffSeconds: number;
  signInBackoffMaxSeconds: number;
  signUpsPerAddressPerHour: number;
}

const HOUR_MS = 3_600_000;

/**
 * Throttles password guessing and account farming, before any password is hashed or checked.
 *
 * Sign-in: every attempt is counted against its account (by e-mail, known or not) and its client
 * address before the password is checked, so concurrent guesses cannot all slip through. After the
 * free attempts (`SIGNIN_FAILURES_PER_ACCOUNT`, `SIGNIN_FAILURES_PER_ADDRESS`) each next attempt
 * waits `SIGNIN_BACKOFF_SECONDS`, doubling each time up to `SIGNIN_BACKOFF_MAX_SECONDS`; meanwhile
 * every attempt, with the right password too, is RATE_LIMITED, so the back-off is no oracle. A
 * successful sign-in forgets the account's failures and takes its own attempt back from the
 * address (the address's failures stay, or one account of the attacker's could wipe them).
 * Sign-up: at most `SIGNUPS_PER_ADDRESS_PER_HOUR` attempts per client address, in a fixed window.
 * An IPv6 client is counted by its /64 network, which one host or home usually holds whole.
 */
export class AuthThrottle {
  private readonly perAccount: BackOff;
  private readonly perAddress: BackOff;

  constructor(
    private readonly limiter: AttemptLimiter,
    private readonly health: HealthMonitor,
    private readonly config: AuthThrottleConfig,
  ) {
    const firstMs = config.signInBackoffSeconds * 1000;
    const longestMs = config.signInBackoffMaxSeconds * 1000;
    this.perAccount = { free: config.signInFailuresPerAccount, firstMs, longestMs };
    this.perAddress = { free: config.signInFailuresPerAddress, firstMs, longestMs };
  }

  /**
   * Counts a sign-in attempt, or throws RATE_LIMITED while the account or the address backs off.
   * Returns what to call once the password was checked.
   */
  async signInAttempt(email: string, address: string): Promise<{ succeeded(): Promise<void> }> {
    const { keys } = this.limiter;
    const accountKey = keys.signInsOfAccount(emailHash(email));
    const addressKey = keys.signInsOfAddress(addressGroup(address));
    // The address first: an attempt its address refuses never touches the account's count, so a
    // throttled client cannot push back the back-off of someone else's account.
    const addressWait = await this.redis(() => this.limiter.reserve(addressKey, this.perAddress));
    if (addressWait > 0) throw tooMany(addressWait);
    const accountWait = await this.redis(() => this.limiter.reserve(accountKey, this.perAccount));
    if (accountWait > 0) {
      // The attempt does not run, so it is no failure of this address.
      await this.redis(() => this.limiter.release(addressKey));
      throw tooMany(accountWait);
    }
    return {
      succeeded: () =>
        this.redis(async () => {
          await Promise.all([this.limiter.clear(accountKey), this.limiter.release(addressKey)]);
        }),
    };
  }

  /** Counts a sign-up attempt from this address, or throws RATE_LIMITED over the hourly limit. */
  async signUpAttempt(address: string): Promise<void> {
    const key = this.limiter.keys.signUpsOfAddress(addressGroup(address));
    const wait = await this.redis(() => this.limiter.countInWindow(key, this.config.signUpsPerAddressPerHour, HOUR_MS));
    if (wait > 0) throw tooMany(wait, 'Too many sign-ups from this address; try again later');
  }

  /** A Redis that is down answers UNAVAILABLE: nobody signs in unthrottled. */
  private async redis<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      this.health.reportFailure('redis', err);
      throw new UnavailableError(
        'Sign-in and sign-up are unavailable right now; nothing was changed, try again shortly',
      );
    }
  }
}

function tooMany(waitMs: number, message = 'Too many sign-in attempts; try again later'): RateLimitedError {
  return new RateLimitedError(Math.max(1, Math.ceil(waitMs / 1000)), message);
}

/**
 * What one client is counted as: an IPv4 address itself, an IPv6 address by its /64 (written as
 * four full groups, so every spelling of one network is one key). Anything else is kept as it is.
 */
export function addressGroup(address: string): string {
  const ip = address.split('%')[0] ?? address; // a zone id names an interface, not a client
  if (!isIPv6(ip)) return address;
  const [head = '', tail] = ip.split('::');
  const groups = (part: string | undefined) =>
    part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : [];
  const left = groups(head);
  const right = groups(tail);
  const full =
    tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${full
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** The account key names a hash, so Redis never holds the e-mail itself. */
function emailHash(email: string): string {
  return createHash('sha256').update(email).digest('base64url');
}
