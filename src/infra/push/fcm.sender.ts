import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { applicationDefault, cert, getApps, initializeApp, type Credential } from 'firebase-admin/app';
import { getMessaging, type BatchResponse, type MulticastMessage } from 'firebase-admin/messaging';
import type { Logger } from '../../logger.js';
import type { PushMessage, PushResult, PushSender } from './push-sender.js';

/** The one firebase-admin call we use; a real `Messaging` fits, and so does a test double. */
export interface MulticastClient {
  sendEachForMulticast(message: MulticastMessage): Promise<BatchResponse>;
}

export interface FcmSenderOptions {
  /** Attempts per token, the first included; default 3. */
  maxAttempts?: number;
  /** Delay before the first retry, doubled each time, with jitter; default 500 ms. */
  baseDelayMs?: number;
  /** Upper bound of one delay; default 10 000 ms. */
  maxDelayMs?: number;
  logger?: Logger;
}

/** Failures that say "not now" rather than "never": worth retrying the same token. */
const TRANSIENT = new Set([
  'messaging/unavailable',
  'messaging/server-unavailable',
  'messaging/internal-error',
  'messaging/quota-exceeded',
  'messaging/message-rate-exceeded', // what the SDK calls FCM's QUOTA_EXCEEDED
  'app/network-timeout',
  'app/network-error',
  'messaging/app/network-error', // an HTTP/2 session failure
  'messaging/app/network-timeout',
]);

/** FCM's verdict on one token: it will never work again, so the caller forgets it. */
const INVALID_TOKEN = new Set([
  'messaging/registration-token-not-registered',
  'messaging/invalid-registration-token',
  // FCM v1 answers INVALID_ARGUMENT for a malformed token. It would also for a malformed message,
  // but ours is built here from strings only, and a thrown (request-level) error never lands here.
  'messaging/invalid-argument',
]);

/** FCM accepts at most 500 tokens per multicast. */
const BATCH_LIMIT = 500;
const APP_NAME = 'push-fcm';

type Verdict = { kind: 'sent'; messageId?: string } | { kind: 'invalid' } | { kind: 'retry' | 'fail'; error: string };

/** Firebase Cloud Messaging over firebase-admin. Delivery is at-least-once; devices de-duplicate. */
export class FcmSender implements PushSender {
  readonly name = 'fcm';
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly client: MulticastClient,
    private readonly options: FcmSenderOptions = {},
  ) {
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
  }

  /**
   * `path` is GOOGLE_APPLICATION_CREDENTIALS. A service-account key file is loaded from exactly
   * that path (it also names the project FCM needs); any other credential type (workload identity,
   * user credentials) goes through Application Default Credentials, which read the same variable.
   */
  static fromCredentials(path: string, options?: FcmSenderOptions): FcmSender {
    const app =
      getApps().find((a) => a.name === APP_NAME) ?? initializeApp({ credential: credentialAt(path) }, APP_NAME);
    return new FcmSender(getMessaging(app), options);
  }

  async send(tokens: readonly string[], message: PushMessage): Promise<PushResult[]> {
    const results = new Map<string, PushResult>();
    let pending = [...new Set(tokens)];
    for (let attempt = 1; pending.length > 0; attempt++) {
      const retry: { token: string; error: string }[] = [];
      for (let i = 0; i < pending.length; i += BATCH_LIMIT) {
        const batch = pending.slice(i, i + BATCH_LIMIT);
        const verdicts = await this.sendBatch(batch, message);
        batch.forEach((token, j) => {
          const verdict = verdicts[j] ?? { kind: 'retry', error: 'no response for this token' };
          if (verdict.kind === 'sent') results.set(token, { token, outcome: 'sent', messageId: verdict.messageId });
          else if (verdict.kind === 'invalid') results.set(token, { token, outcome: 'invalid_token' });
          else if (verdict.kind === 'fail') results.set(token, { token, outcome: 'failed', error: verdict.error });
          else retry.push({ token, error: verdict.error });
        });
      }
      if (retry.length > 0 && attempt >= this.maxAttempts) {
        for (const { token, error } of retry) results.set(token, { token, outcome: 'failed', error });
        break;
      }
      pending = retry.map((r) => r.token); // only the transient failures go again
      if (pending.length > 0) {
        const delay = this.backoff(attempt);
        this.options.logger?.warn(
          { notificationId: message.notificationId, retrying: pending.length, attempt, delayMs: Math.round(delay) },
          'FCM push failed transiently; retrying',
        );
        await sleep(delay);
      }
    }
    return tokens.map((token) => results.get(token) ?? { token, outcome: 'failed', error: 'not attempted' });
  }

  private async sendBatch(tokens: string[], message: PushMessage): Promise<Verdict[]> {
    const id = message.notificationId;
    let response: BatchResponse;
    try {
      response = await this.client.sendEachForMulticast({
        tokens,
        notification: { title: message.title, body: message.body },
        data: { ...message.data, notificationId: id },
        // Same id, same collapse key: a redelivered push replaces the one already shown.
        android: { collapseKey: id },
        apns: { headers: { 'apns-collapse-id': id } },
      });
    } catch (err) {
      // The whole request failed, so it says nothing about any token: retry or fail, never invalid.
      const code = codeOf(err);
      const error = describe(err);
      return tokens.map((): Verdict => ({ kind: code && TRANSIENT.has(code) ? 'retry' : 'fail', error }));
    }
    return response.responses.map((r): Verdict => {
      if (r.success) return { kind: 'sent', ...(r.messageId ? { messageId: r.messageId } : {}) };
      const code = codeOf(r.error);
      if (code && INVALID_TOKEN.has(code)) return { kind: 'invalid' };
      return { kind: code && TRANSIENT.has(code) ? 'retry' : 'fail', error: describe(r.error) };
    });
  }

  /** Exponential, capped, with "equal jitter" so retries from many workers do not line up. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
}

function credentialAt(path: string): Credential {
  const file = JSON.parse(readFileSync(path, 'utf8')) as { type?: unknown };
  return file.type === 'service_account' ? cert(path) : applicationDefault();
}

function codeOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

function describe(err: unknown): string {
  const code = codeOf(err);
  const text = err instanceof Error ? err.message : String(err);
  return code ? `${code}: ${text}` : text;
}
