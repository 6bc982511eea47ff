import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Kind, OperationTypeNode, parse } from 'graphql';
import { projectPath } from '../project-path.js';

/**
 * The safelist of documents a client may run by id over `GET /graphql?documentId=…` (the GraphQL
 * over HTTP spec's persisted documents, graphql-persisted-get.ts): the public reads of the event
 * pages, whose answers an edge cache may keep for a second. They are the web app's own documents
 * (web/src/public-reads.graphql), read at start-up from the map of id to text that codegen's
 * client preset writes beside the web app's typed documents, which carry the same ids: one text,
 * so the id the app sends is the id found here. The id is the spec's SHA256 hex document
 * identifier of that text, byte for byte: editing a document gives it a new id (and so a new cache
 * key), so an old client keeps getting the shape it asked for or a clear refusal. Only queries: a
 * GET never changes anything.
 */
export const PERSISTED_DOCUMENTS_FILE = projectPath('web/src/gql/public-reads/persisted-documents.json');

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

/**
 * A manifest (`{ "<id>": "<document>" }`) by id. Refuses one whose id is not its document's, or
 * that is not one named query each: a hand-edited or stale file fails the start, not a request.
 */
export function loadPersistedDocuments(file: string): ReadonlyMap<string, PersistedDocument> {
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    throw new Error(`${file} is not a map of document ids to documents`);
  }
  const byId = new Map<string, PersistedDocument>();
  for (const [id, query] of Object.entries(manifest)) {
    if (typeof query !== 'string') throw new Error(`${file}: ${id} is not a document`);
    const doc = persisted(query);
    if (doc.id !== id) throw new Error(`${file}: ${id} is not the id of ${doc.name} (run npm run codegen)`);
    byId.set(id, doc);
  }
  return byId;
}

/** By id. */
export const PERSISTED_DOCUMENTS = loadPersistedDocuments(PERSISTED_DOCUMENTS_FILE);

/** The persisted document of an operation name, for clients built with this code (the benchmark, tests). */
export function persistedDocument(name: string): PersistedDocument {
  for (const doc of PERSISTED_DOCUMENTS.values()) if (doc.name === name) return doc;
  throw new Error(`no persisted document named ${name}`);
}

/**
 * The canonical URL path and query of a persisted document request over GET: the spec's parameter
 * order, the id as it is (its characters need no escaping), the variables as compact JSON. Clients
 * that build their URLs the same way share cache entries (the web app's api.ts does).
 */
export function persistedGetPath(name: string, variables?: Record<string, unknown>): string {
  const vars = variables === undefined ? '' : `&variables=${encodeURIComponent(JSON.stringify(variables))}`;
  return `/graphql?documentId=${persistedDocument(name).id}${vars}`;
}
