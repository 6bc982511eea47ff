import { Field, ObjectType } from 'type-graphql';

@ObjectType({ simpleResolvers: true })
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

/** Builds the Relay-style `edges`/`pageInfo`/`totalCount` shape from a service page. */
export function toConnection<T, N>(
  page: { items: { cursor: string; node: T }[]; hasNextPage: boolean; totalCount: number },
  map: (node: T) => N,
) {
  return {
    edges: page.items.map((item) => ({ cursor: item.cursor, node: map(item.node) })),
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.items.at(-1)?.cursor ?? null },
    totalCount: page.totalCount,
  };
}
