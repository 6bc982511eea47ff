import { Migration } from '@mikro-orm/migrations';

/**
 * A per-user token version, carried in every access token: a token whose version is older than the
 * row's is revoked. Postgres bumps it itself whenever the role changes (so an operator's
 * `update users set role = …` takes effect at once, whoever runs it), and `signOutEverywhere` bumps
 * it on request. Every bump and every deleted account is announced on the `token_version` channel
 * (`<user id>:<version>`, `<user id>:deleted`), so gateways drop the revoked tokens without a
 * lookup per request; `tokens_revoked_at` lets a gateway that missed notifications catch up.
 */
export class TokenVersion extends Migration {
  override up(): void {
    this.addSql(`
      alter table users
        add column token_version integer not null default 0,
        add column tokens_revoked_at timestamptz;
      create index users_tokens_revoked_at_idx on users (tokens_revoked_at) where tokens_revoked_at is not null;

      create function users_token_version() returns trigger language plpgsql as $$
      begin
        if new.role is distinct from old.role and new.token_version = old.token_version then
          new.token_version := old.token_version + 1;
        end if;
        if new.token_version is distinct from old.token_version then
          new.tokens_revoked_at := now();
        end if;
        return new;
      end
      $$;
      create trigger users_token_version before update on users
        for each row execute function users_token_version();

      create function users_token_revoked() returns trigger language plpgsql as $$
      begin
        if tg_op = 'DELETE' then
          perform pg_notify('token_version', old.id || ':deleted');
        else
          perform pg_notify('token_version', new.id || ':' || new.token_version);
        end if;
        return null;
      end
      $$;
      create trigger users_token_revoked after update on users
        for each row when (old.token_version is distinct from new.token_version)
        execute function users_token_revoked();
      create trigger users_deleted after delete on users
        for each row execute function users_token_revoked();
    `);
  }

  override down(): void {
    this.addSql(`
      drop trigger if exists users_deleted on users;
      drop trigger if exists users_token_revoked on users;
      drop trigger if exists users_token_version on users;
      drop function if exists users_token_revoked();
      drop function if exists users_token_version();
      alter table users drop column if exists tokens_revoked_at, drop column if exists token_version;
    `);
  }
}
