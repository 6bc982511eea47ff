import { Arg, Authorized, Ctx, ID, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { UserRole } from '../entities/user.entity.js';
import { SaleStats, toSaleStats } from '../schema/sale-stats.type.js';
import type { SaleStatsService } from '../services/events/sale-stats.service.js';

@Resolver()
export class SaleStatsResolver {
  constructor(private readonly saleStatsService: SaleStatsService) {}

  @Authorized(UserRole.ADMIN)
  @Query(() => SaleStats, { description: "ADMIN only. An event's sale right now, for the operator page." })
  async saleStats(@Ctx() ctx: RequestContext, @Arg('eventId', () => ID) eventId: string): Promise<SaleStats> {
    return toSaleStats(await this.saleStatsService.get(ctx, eventId));
  }
}
