import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  parse,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValidationRule,
} from 'graphql';
import { costFormula, type CostFormula } from './query-cost.js';

/** A document as far as it got: parsed and validated, and compiled when it is a query or mutation. */
export interface PreparedOperation {
  document: DocumentNode | null;
  /** Parse or validation errors; when present, nothing else is set. */
  errors: readonly GraphQLError[];
  failedAt?: 'parse' | 'validation';
  /** The operation compiled with graphql-jit; null for a subscription or one it cannot compile. */
  compiled: CompiledQuery | null;
  /**
   * The operation's cost formula, to evaluate with each request's variables (`queryCost`); null
   * when no operation is selected (execution then answers the standard error).
   */
  cost: CostFormula | null;
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
      return { document: null, errors: [toGraphQLError(err)], failedAt: 'parse', compiled: null, cost: null };
    }
    let errors: readonly GraphQLError[];
    try {
      errors = validate(this.schema, document, this.rules);
    } catch (err) {
      // graphql-armor's limit rules throw their error instead of reporting it.
      errors = [toGraphQLError(err)];
    }
    if (errors.length > 0) return { document: null, errors, failedAt: 'validation', compiled: null, cost: null };
    const operation = selectOperation(document, operationName);
    return {
      document,
      errors: [],
      compiled: operation ? this.compile(document, operation, operationName) : null,
      cost: operation ? costFormula(this.schema, document, operation) : null,
    };
  }

  private compile(
    document: DocumentNode,
    operation: OperationDefinitionNode,
    operationName: string | undefined,
  ): CompiledQuery | null {
    // Subscriptions run on graphql's own subscribe.
    if (operation.operation === OperationTypeNode.SUBSCRIPTION) return null;
    try {
      const compiled = compileQuery(this.schema, document, operationName, { disablingCapturingStackErrors: true });
      return isCompiledQuery(compiled) ? compiled : null;
    } catch {
      return null;
    }
  }
}

/** The operation a request names, or the only one; undefined for an unknown name or an ambiguous document. */
function selectOperation(
  document: DocumentNode,
  operationName: string | undefined,
): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) return operations.find((o) => o.name?.value === operationName);
  return operations.length === 1 ? operations[0] : undefined;
}

function toGraphQLError(err: unknown): GraphQLError {
  if (err instanceof GraphQLError) return err;
  throw err;
}
