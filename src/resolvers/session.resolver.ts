import { Authorized, Ctx, Mutation, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import type { SessionService } from '../services/auth/session.service.js';

@Resolver()
export class SessionResolver {
  constructor(private readonly sessions: SessionService) {}

  @Authorized()
  @Mutation(() => Boolean, {
    description:
      'Ends every session of the signed-in user: every token issued so far (this one too) stops working at once, and WebSockets opened with one are closed (4403). Sign in again for a new token.',
  })
  async signOutEverywhere(@Ctx() ctx: RequestContext): Promise<boolean> {
    return this.sessions.signOutEverywhere(ctx);
  }
}
