import type { Logger } from '../../logger.js';
import type { PushMessage, PushResult, PushSender } from './push-sender.js';

/** Stores one would-be push; the app writes it to a table so tests and developers can see it. */
export type PushRecorder = (token: string, message: PushMessage) => Promise<void>;

export interface LogSenderOptions {
  record: PushRecorder;
  logger: Logger;
}

/** The local driver: no device is reached, every push is recorded and logged. */
export class LogSender implements PushSender {
  readonly name = 'log';

  constructor(private readonly options: LogSenderOptions) {}

  async send(tokens: readonly string[], message: PushMessage): Promise<PushResult[]> {
    const results: PushResult[] = [];
    for (const token of tokens) {
      try {
        await this.options.record(token, message);
      } catch (err) {
        // Claiming `sent` for a push we failed to record would hide it; `failed` gets it retried.
        results.push({ token, outcome: 'failed', error: err instanceof Error ? err.message : String(err) });
        continue;
      }
      // Only the token's tail: a full device token is a credential for pushing to that device.
      this.options.logger.info(
        { notificationId: message.notificationId, tokenTail: token.slice(-8), title: message.title },
        'push recorded (log driver)',
      );
      results.push({ token, outcome: 'sent' });
    }
    return results;
  }
}
