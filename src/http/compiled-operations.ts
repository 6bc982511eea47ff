import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  parse,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';

/** A document as far as it got: parsed and validated, and compiled when it is a query or mutation. */
export interface PreparedOperation {
  document: DocumentNode | null;
  /** Parse or validation errors; when present, nothing else is set. */
  errors: readonly GraphQLError[];
  failedAt?: 'parse' | 'validation';
  /** The operation compiled with graphql-jit; null for a subscription or one it cannot compile. */
  compiled: CompiledQuery | null;
}

/**
 * GraphQL documents parsed, validated and compiled (graphql-jit) once, then executed many times.
 * During a flash sale a million clients send the same few documents (the event page, bookTicket),
 * so the work a generic server repeats per request is done here once per distinct document, for
 * HTTP and graphql-ws alike. Invalid documents are remembered too, with their errors.
 */
export class CompiledOperations {
  private readonly cache = new Map<string, PreparedOperation>();
  private readonly byDocument = new WeakMap<DocumentNode, CompiledQuery>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly rules: readonly ValidationRule[],
    private readonly maxTokens: number,
    private readonly limit = 1000,
  ) {}

  prepare(query: string, operationName: string | null | undefined): PreparedOperation {
    const key = operationName ? `${operationName}\n${query}` : query;
    let prepared = this.cache.get(key);
    if (prepared === undefined) {
      prepared = this.build(query, operationName ?? undefined);
      // A simple bound: a client that sends endless distinct documents only resets the cache.
      if (this.cache.size >= this.limit) this.cache.clear();
      this.cache.set(key, prepared);
      if (prepared.document && prepared.compiled) this.byDocument.set(prepared.document, prepared.compiled);
    }
    return prepared;
  }

  /** The compiled form of a document this cache prepared, for executors handed only the document. */
  compiledFor(document: DocumentNode): CompiledQuery | undefined {
    return this.byDocument.get(document);
  }

  private build(query: string, operationName: string | undefined): PreparedOperation {
    let document: DocumentNode;
    try {
      document = parse(query, { maxTokens: this.maxTokens });
    } catch (err) {
      return { document: null, errors: [toGraphQLError(err)], failedAt: 'parse', compiled: null };
    }
    let errors: readonly GraphQLError[];
    try {
      errors = validate(this.schema, document, this.rules);
    } catch (err) {
      // graphql-armor's limit rules throw their error instead of reporting it.
      errors = [toGraphQLError(err)];
    }
    if (errors.length > 0) return { document: null, errors, failedAt: 'validation', compiled: null };
    return { document, errors: [], compiled: this.compile(document, operationName) };
  }

  private compile(document: DocumentNode, operationName: string | undefined): CompiledQuery | null {
    const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
    // Subscriptions run on graphql's own subscribe; an ambiguous document gets the standard error.
    if (!operation || operation.operation === OperationTypeNode.SUBSCRIPTION) return null;
    if (!operationName && operations.length > 1) return null;
    try {
      const compiled = compileQuery(this.schema, document, operationName, { disablingCapturingStackErrors: true });
      return isCompiledQuery(compiled) ? compiled : null;
    } catch {
      return null;
    }
  }
}

function toGraphQLError(err: unknown): GraphQLError {
  if (err instanceof GraphQLError) return err;
  throw err;
}
