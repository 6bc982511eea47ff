import { createHash } from 'node:crypto';
import { Kind, OperationTypeNode, parse } from 'graphql';

/**
 * The safelist of documents a client may run by id over `GET /graphql?documentId=…` (the GraphQL
 * over HTTP spec's persisted documents, graphql-persisted-get.ts): the public reads of the event
 * pages, whose answers an edge cache may keep for a second. The id is the spec's SHA256 hex
 * document identifier of the text below, byte for byte: editing a document gives it a new id (and
 * so a new cache key), so an old client keeps getting the shape it asked for or a clear refusal.
 * Only queries: a GET never changes anything.
 */
const SOURCES: readonly string[] = [
  // The event page (the web app's WebEvent).
  'query EventPage($id: ID!) { event(id: $id) { id title description venue startsAt saleStartsAt price currency ticketsTotal ticketsAvailable maxPerUser status waitingRoom { opensAt admitPerSecond waiting } } }',
  // The list and search page (the web app's WebEvents).
  'query EventList($query: String, $first: Int, $after: String) { events(query: $query, first: $first, after: $after) { edges { cursor node { id title venue startsAt saleStartsAt price currency ticketsTotal ticketsAvailable maxPerUser status } } pageInfo { hasNextPage endCursor } totalCount } }',
];

export interface PersistedDocument {
  id: string;
  /** The operation's name (each document holds one). */
  name: string;
  query: string;
}

/** `sha256:` and the lower-case hex SHA-256 of the document's UTF-8 text. */
export function documentIdOf(query: string): string {
  return `sha256:${createHash('sha256').update(query, 'utf8').digest('hex')}`;
}

function persisted(query: string): PersistedDocument {
  const operations = parse(query).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operations[0];
  if (operations.length !== 1 || operation?.operation !== OperationTypeNode.QUERY || !operation.name) {
    throw new Error(`a persisted document must hold one named query: ${query}`);
  }
  return { id: documentIdOf(query), name: operation.name.value, query };
}

/** By id. */
export const PERSISTED_DOCUMENTS: ReadonlyMap<string, PersistedDocument> = new Map(
  SOURCES.map((source) => {
    const doc = persisted(source);
    return [doc.id, doc];
  }),
);

/** The persisted document of an operation name, for clients built with this code (the benchmark, tests). */
export function persistedDocument(name: string): PersistedDocument {
  for (const doc of PERSISTED_DOCUMENTS.values()) if (doc.name === name) return doc;
  throw new Error(`no persisted document named ${name}`);
}

/**
 * The canonical URL path and query of a persisted document request over GET: the spec's parameter
 * order, the id as it is (its characters need no escaping), the variables as compact JSON. Clients
 * that build their URLs the same way share cache entries.
 */
export function persistedGetPath(name: string, variables?: Record<string, unknown>): string {
  const vars = variables === undefined ? '' : `&variables=${encodeURIComponent(JSON.stringify(variables))}`;
  return `/graphql?documentId=${persistedDocument(name).id}${vars}`;
}
