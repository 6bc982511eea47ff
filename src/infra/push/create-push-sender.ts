import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { FcmSender } from './fcm.sender.js';
import { LogSender, type PushRecorder } from './log.sender.js';
import type { PushSender } from './push-sender.js';

/** The configured driver: `log` (the default, records what would be sent) or `fcm`. */
export function createPushSender(push: Config['push'], deps: { logger: Logger; record: PushRecorder }): PushSender {
  switch (push.provider) {
    case 'log':
      return new LogSender({ record: deps.record, logger: deps.logger });
    case 'fcm':
      // config.ts refuses PUSH_PROVIDER=fcm without credentials; this guards other callers.
      if (!push.googleCredentials) throw new Error('PUSH_PROVIDER=fcm needs GOOGLE_APPLICATION_CREDENTIALS');
      return FcmSender.fromCredentials(push.googleCredentials, { logger: deps.logger });
  }
}
