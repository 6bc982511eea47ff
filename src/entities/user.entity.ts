import type { Opt } from '@mikro-orm/core';
import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

export const UserRole = { USER: 'USER', ADMIN: 'ADMIN' } as const;
export type UserRole = (typeof UserRole)[keyof typeof UserRole];

@Entity({ tableName: 'users' })
export class User {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  /** Stored lower-cased; unique. */
  @Property({ type: 'text', unique: true })
  email!: string;

  @Property({ type: 'text' })
  name!: string;

  /** argon2id hash; never leaves the service layer. */
  @Property({ type: 'text', hidden: true })
  passwordHash!: string;

  @Property({ type: 'text' })
  role!: UserRole;

  @Property({ type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;

  /**
   * Carried in every access token; a token with an older one is revoked. Postgres bumps it when
   * the role changes (a trigger), signOutEverywhere when asked.
   */
  @Property({ type: 'integer', default: 0 })
  tokenVersion: Opt<number> = 0;

  /** When token_version last changed (set by the same trigger). */
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true, hidden: true })
  tokensRevokedAt?: Date | null;
}
