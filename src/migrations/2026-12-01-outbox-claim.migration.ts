import { Migration } from '@mikro-orm/migrations';

/**
 * A relay claims outbox rows for a short lease instead of locking them across its publish, so a
 * relay that freezes (or dies) mid-publish delays its rows by the lease only (see outbox.relay.ts).
 */
export class OutboxClaim extends Migration {
  override up(): void {
    this.addSql(`alter table outbox add column claimed_until timestamptz;`);
  }

  override down(): void {
    this.addSql(`alter table outbox drop column if exists claimed_until;`);
  }
}
