import { Migration } from '@mikro-orm/migrations';

/**
 * Wakes the outbox relay as soon as a transaction that wrote outbox rows commits, so no writer has
 * to remember to. NOTIFY is delivered at commit (never for a rolled-back transaction), folded into
 * one per transaction, and only to listeners of the same database, so a fixed channel name is
 * already private to each database (each test file has its own). The relay's poll is the fallback.
 */
export class OutboxNotify extends Migration {
  override up(): void {
    this.addSql(`
      create function outbox_notify() returns trigger language plpgsql as $$
      begin
        perform pg_notify('outbox', '');
        return null;
      end
      $$;

      create trigger outbox_notify after insert on outbox
        for each statement execute function outbox_notify();
    `);
  }

  override down(): void {
    this.addSql(`drop trigger if exists outbox_notify on outbox; drop function if exists outbox_notify();`);
  }
}
