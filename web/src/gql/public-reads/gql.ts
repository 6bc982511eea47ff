/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "fragment EventCard on Event {\n  id\n  title\n  venue\n  startsAt\n  saleStartsAt\n  price\n  currency\n  ticketsTotal\n  ticketsAvailable\n  maxPerUser\n  status\n}\n\nquery EventList($query: String, $first: Int, $after: String) {\n  events(query: $query, first: $first, after: $after) {\n    edges {\n      cursor\n      node {\n        ...EventCard\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    totalCount\n  }\n}\n\nquery EventPage($id: ID!) {\n  event(id: $id) {\n    ...EventCard\n    description\n    waitingRoom {\n      opensAt\n      admitPerSecond\n      waiting\n    }\n  }\n}": typeof types.EventCardFragmentDoc,
};
const documents: Documents = {
    "fragment EventCard on Event {\n  id\n  title\n  venue\n  startsAt\n  saleStartsAt\n  price\n  currency\n  ticketsTotal\n  ticketsAvailable\n  maxPerUser\n  status\n}\n\nquery EventList($query: String, $first: Int, $after: String) {\n  events(query: $query, first: $first, after: $after) {\n    edges {\n      cursor\n      node {\n        ...EventCard\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    totalCount\n  }\n}\n\nquery EventPage($id: ID!) {\n  event(id: $id) {\n    ...EventCard\n    description\n    waitingRoom {\n      opensAt\n      admitPerSecond\n      waiting\n    }\n  }\n}": types.EventCardFragmentDoc,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment EventCard on Event {\n  id\n  title\n  venue\n  startsAt\n  saleStartsAt\n  price\n  currency\n  ticketsTotal\n  ticketsAvailable\n  maxPerUser\n  status\n}\n\nquery EventList($query: String, $first: Int, $after: String) {\n  events(query: $query, first: $first, after: $after) {\n    edges {\n      cursor\n      node {\n        ...EventCard\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    totalCount\n  }\n}\n\nquery EventPage($id: ID!) {\n  event(id: $id) {\n    ...EventCard\n    description\n    waitingRoom {\n      opensAt\n      admitPerSecond\n      waiting\n    }\n  }\n}"): (typeof documents)["fragment EventCard on Event {\n  id\n  title\n  venue\n  startsAt\n  saleStartsAt\n  price\n  currency\n  ticketsTotal\n  ticketsAvailable\n  maxPerUser\n  status\n}\n\nquery EventList($query: String, $first: Int, $after: String) {\n  events(query: $query, first: $first, after: $after) {\n    edges {\n      cursor\n      node {\n        ...EventCard\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    totalCount\n  }\n}\n\nquery EventPage($id: ID!) {\n  event(id: $id) {\n    ...EventCard\n    description\n    waitingRoom {\n      opensAt\n      admitPerSecond\n      waiting\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;