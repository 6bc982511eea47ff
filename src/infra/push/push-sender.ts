/**
 * What the notification worker needs from a mobile push service. Drivers: `fcm.sender.ts`
 * (firebase-admin messaging) and `log.sender.ts` (records what would be sent).
 */
export interface PushMessage {
  /** The notification id; lets devices drop a push they already showed (delivery is at-least-once). */
  notificationId: string;
  title: string;
  body: string;
  data: Record<string, string>;
}

export type PushResult =
  | { token: string; outcome: 'sent'; messageId?: string }
  /** The service says this token will never work again: the caller forgets it. */
  | { token: string; outcome: 'invalid_token' }
  /** Still failing after retries; worth another try later. */
  | { token: string; outcome: 'failed'; error: string };

export interface PushSender {
  readonly name: string;
  send(tokens: readonly string[], message: PushMessage): Promise<PushResult[]>;
}
