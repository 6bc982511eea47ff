import { Args, Authorized, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import type { AuthService } from '../services/auth/auth.service.js';
import { AuthPayload, SignInArgs, SignUpArgs, UserType, toUserType } from '../schema/user.type.js';

@Resolver()
export class AuthResolver {
  constructor(private readonly auth: AuthService) {}

  @Mutation(() => AuthPayload)
  async signUp(@Ctx() ctx: RequestContext, @Args(() => SignUpArgs) args: SignUpArgs): Promise<AuthPayload> {
    const session = await this.auth.signUp(ctx, args);
    return { token: session.token, user: toUserType(session.user) };
  }

  @Mutation(() => AuthPayload)
  async signIn(@Ctx() ctx: RequestContext, @Args(() => SignInArgs) args: SignInArgs): Promise<AuthPayload> {
    const session = await this.auth.signIn(ctx, args);
    return { token: session.token, user: toUserType(session.user) };
  }

  @Authorized()
  @Query(() => UserType, { nullable: true, description: 'The signed-in user.' })
  async me(@Ctx() ctx: RequestContext): Promise<UserType | null> {
    const user = await this.auth.me(ctx);
    return user ? toUserType(user) : null;
  }
}
