import { InitialSchema } from './2026-11-26-initial.migration.js';
import { OutboxNotify } from './2026-11-27-outbox-notify.migration.js';
import { OutboxClaim } from './2026-12-01-outbox-claim.migration.js';
import { TokenVersion } from './2026-12-01-token-version.migration.js';
import { WaitingRoom } from './2026-12-02-waiting-room.migration.js';

/** Every migration in order; listed explicitly so the same list runs from sources and from `dist/`. */
export const migrations = [
  { name: '2026-11-26-initial', class: InitialSchema },
  { name: '2026-11-27-outbox-notify', class: OutboxNotify },
  { name: '2026-12-01-token-version', class: TokenVersion },
  { name: '2026-12-01-outbox-claim', class: OutboxClaim },
  { name: '2026-12-02-waiting-room', class: WaitingRoom },
];
