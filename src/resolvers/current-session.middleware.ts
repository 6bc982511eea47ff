import type { MiddlewareInterface, NextFn, ResolverData } from 'type-graphql';
import type { RequestContext } from '../context.js';
import type { SessionService } from '../services/auth/session.service.js';

/**
 * `@UseMiddleware(CurrentSession)` on a privileged operation: the token must be the account's
 * current version in Postgres (not revoked, the account not deleted), checked before it runs.
 */
export class CurrentSession implements MiddlewareInterface<RequestContext> {
  constructor(private readonly sessions: SessionService) {}

  async use({ context }: ResolverData<RequestContext>, next: NextFn): Promise<unknown> {
    await this.sessions.confirm(context);
    return next();
  }
}
