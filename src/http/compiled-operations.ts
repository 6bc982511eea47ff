import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { Kind, OperationTypeNode, parse, validate, type GraphQLSchema, type ValidationRule } from 'graphql';

/**
 * GraphQL documents parsed, validated and compiled (graphql-jit) once, then executed many times.
 * During a flash sale a million clients send the same few documents (the event page, bookTicket),
 * so the work that a generic server repeats per request is done here once per distinct document.
 * A document that does not parse, validate or compile is remembered as unusable, and its requests
 * go through the full server, which answers with the standard errors.
 */
export class CompiledOperations {
  private readonly cache = new Map<string, CompiledQuery | null>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly rules: readonly ValidationRule[],
    private readonly maxTokens: number,
    private readonly limit = 1000,
  ) {}

  /** The compiled operation, or null when the full server must handle this document. */
  get(query: string, operationName: string | undefined): CompiledQuery | null {
    const key = operationName ? `${operationName}\n${query}` : query;
    let compiled = this.cache.get(key);
    if (compiled === undefined) {
      compiled = this.compile(query, operationName);
      // A simple bound: a client that sends endless distinct documents only resets the cache.
      if (this.cache.size >= this.limit) this.cache.clear();
      this.cache.set(key, compiled);
    }
    return compiled;
  }

  private compile(query: string, operationName: string | undefined): CompiledQuery | null {
    try {
      const document = parse(query, { maxTokens: this.maxTokens });
      if (validate(this.schema, document, this.rules).length > 0) return null;
      const operation = document.definitions.find(
        (d) => d.kind === Kind.OPERATION_DEFINITION && (operationName === undefined || d.name?.value === operationName),
      );
      // Subscriptions belong to graphql-ws; an ambiguous document gets the full server's error.
      if (operation?.kind !== Kind.OPERATION_DEFINITION || operation.operation === OperationTypeNode.SUBSCRIPTION)
        return null;
      const compiled = compileQuery(this.schema, document, operationName, { disablingCapturingStackErrors: true });
      return isCompiledQuery(compiled) ? compiled : null;
    } catch {
      return null;
    }
  }
}
