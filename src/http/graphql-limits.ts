import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { NoSchemaIntrospectionCustomRule, specifiedRules, type ValidationRule } from 'graphql';
import type { PreparedOperation } from './compiled-operations.js';
import { oneSignInOrSignUpRule } from './one-sign-in-rule.js';
import { queryCost, type Variables } from './query-cost.js';

/**
 * Query limits, the same on HTTP and graphql-ws; clients are told a limit was hit, not what it is.
 * The cost (query-cost.ts) admits one full page (100) of any list with its usual fields (about
 * 6,300), not two.
 */
export const LIMITS = { maxDepth: 10, maxAliases: 15, maxCost: 10_000, maxTokens: 2000, maxDirectives: 20 } as const;
export const MAX_BODY_BYTES = 100 * 1024;

/** The same rules as Apollo applies, for the paths that validate themselves (graphql-ws, compiled operations). */
export function selfValidationRules(introspection: boolean): ValidationRule[] {
  return [
    ...specifiedRules,
    maxDepthRule({ n: LIMITS.maxDepth, exposeLimits: false }),
    maxAliasesRule({ n: LIMITS.maxAliases, exposeLimits: false }),
    maxDirectivesRule({ n: LIMITS.maxDirectives, exposeLimits: false }),
    oneSignInOrSignUpRule,
    ...(introspection ? [] : [NoSchemaIntrospectionCustomRule]),
  ];
}

/** The cost check of the paths that validate themselves; the formula was built once per document. */
export function overCostLimit(prepared: PreparedOperation, variables: Variables): boolean {
  return prepared.cost !== null && queryCost(prepared.cost, variables) > LIMITS.maxCost;
}
