import type { ApolloServerPlugin } from '@apollo/server';
import {
  GraphQLError,
  Kind,
  getNamedType,
  isInterfaceType,
  isObjectType,
  valueFromASTUntyped,
  type ArgumentNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { MAX_PAGE_SIZE } from '../services/shared/cursor.js';

/**
 * The cost of an operation, computed with its variable values. The model is graphql-armor's, so
 * the limit means what it meant before: a scalar costs 1, an object 2 plus 1.5 times its fields,
 * and a field with a `first` (or `last`) argument multiplies that by the page size: the literal,
 * the variable's value, the variable's default, or the argument's default when it is absent. A
 * page size over the largest page counts as the largest page: every list refuses it (BAD_USER_INPUT,
 * which tells the client what it did wrong) before doing any work.
 * Fragments count as if their fields were written in place. `__schema` (introspection) is free.
 *
 * The document is walked once into a formula (`costFormula`); a request evaluates it with its
 * variables (`queryCost`), which for a document without page-size variables is a constant.
 */
const OBJECT_COST = 2;
const SCALAR_COST = 1;
const DEPTH_FACTOR = 1.5;
const PAGE_SIZE_ARGUMENTS = new Set(['first', 'last']);

/** A page size taken from a variable, with what it counts when the variable is absent or null. */
interface PageSizeVariable {
  readonly variable: string;
  readonly fallback: number;
}

/** `(constant + Σ weight × term) × page size`; constant parts are folded as the formula is built. */
interface CostTerm {
  readonly constant: number;
  readonly terms: readonly { readonly weight: number; readonly term: CostTerm }[];
  readonly pageSize: PageSizeVariable | null;
}

/** A number when the cost does not depend on variables. */
export type CostFormula = number | CostTerm;

export type Variables = Readonly<Record<string, unknown>> | null | undefined;

/** The cost of an operation with these variable values: the one place it is computed. */
export function queryCost(formula: CostFormula, variables: Variables): number {
  if (typeof formula === 'number') return formula;
  // A fragment used many times is one shared term: evaluated once per request, not once per use.
  const memo = new Map<CostTerm, number>();
  const evaluate = (term: CostTerm): number => {
    const known = memo.get(term);
    if (known !== undefined) return known;
    let cost = term.constant;
    for (const { weight, term: inner } of term.terms) cost += weight * evaluate(inner);
    if (term.pageSize) cost *= pageSizeValue(term.pageSize, variables);
    memo.set(term, cost);
    return cost;
  };
  return evaluate(formula);
}

/** What clients are told: that a limit was hit, not what it is. */
export function costLimitError(extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError('Query cost limit exceeded.', {
    extensions: { code: 'GRAPHQL_VALIDATION_FAILED', ...extensions },
  });
}

/** Walks one operation of a valid document into its cost formula. */
export function costFormula(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): CostFormula {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const variableDefaults = new Map<string, unknown>();
  for (const v of operation.variableDefinitions ?? []) {
    if (v.defaultValue) variableDefaults.set(v.variable.name.value, valueFromASTUntyped(v.defaultValue));
  }
  const fragmentFormulas = new Map<string, CostFormula>();

  /** The sum of the costs of a selection's fields, fragments flattened in. */
  function selectionCost(selectionSet: SelectionSetNode, parent: GraphQLNamedType | undefined): CostFormula {
    const parts: CostFormula[] = [];
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value === '__schema') continue;
        const field = fieldOf(parent, selection.name.value);
        if (!selection.selectionSet) {
          parts.push(SCALAR_COST);
          continue;
        }
        const inner = selectionCost(selection.selectionSet, field ? getNamedType(field.type) : undefined);
        const own = sum([OBJECT_COST, scale(inner, DEPTH_FACTOR)]);
        const size = pageSize(selection.arguments ?? [], field);
        parts.push(typeof size === 'number' ? scale(own, size) : withPageSize(own, size));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        parts.push(selectionCost(selection.selectionSet, type ?? undefined));
      } else {
        const name = selection.name.value;
        let formula = fragmentFormulas.get(name);
        const fragment = fragments.get(name);
        if (formula === undefined && fragment) {
          // Validation refuses fragment cycles before this runs; the placeholder only guards the walk.
          fragmentFormulas.set(name, 0);
          formula = selectionCost(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value));
          fragmentFormulas.set(name, formula);
        }
        parts.push(formula ?? 0);
      }
    }
    return sum(parts);
  }

  /** The page size of a field: a constant, or the variable it comes from. */
  function pageSize(
    args: readonly ArgumentNode[],
    field: GraphQLField<unknown, unknown> | undefined,
  ): number | PageSizeVariable {
    const declared = field?.args.find((a) => PAGE_SIZE_ARGUMENTS.has(a.name));
    const argumentDefault = toPageSize(declared?.defaultValue, 1);
    const given = args.find((a) => PAGE_SIZE_ARGUMENTS.has(a.name.value));
    if (!given) return argumentDefault;
    if (given.value.kind === Kind.VARIABLE) {
      const variable = given.value.name.value;
      return { variable, fallback: toPageSize(variableDefaults.get(variable), argumentDefault) };
    }
    return toPageSize(valueFromASTUntyped(given.value), argumentDefault);
  }

  const root = schema.getRootType(operation.operation);
  return selectionCost(operation.selectionSet, root ?? undefined);
}

/**
 * The Apollo Server side: once the operation is resolved its variables are known, so the cost is
 * checked there. Apollo caches parsed documents, so the formula is cached per operation node.
 */
export function costLimitPlugin<TContext extends object>(
  schema: GraphQLSchema,
  maxCost: number,
): ApolloServerPlugin<TContext> {
  const formulas = new WeakMap<OperationDefinitionNode, CostFormula>();
  return {
    requestDidStart() {
      return Promise.resolve({
        didResolveOperation({ document, operation, request }) {
          if (!operation) return Promise.resolve();
          let formula = formulas.get(operation);
          if (formula === undefined) {
            formula = costFormula(schema, document, operation);
            formulas.set(operation, formula);
          }
          // 400, as Apollo answers every other validation failure.
          if (queryCost(formula, request.variables) > maxCost) throw costLimitError({ http: { status: 400 } });
          return Promise.resolve();
        },
      });
    },
  };
}

function fieldOf(parent: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
  return parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[name] : undefined;
}

/** A page size counts 1 to the largest page; a value that is not a number falls back (execution refuses it anyway). */
function toPageSize(value: unknown, fallback: number): number {
  return typeof value === 'number' && !Number.isNaN(value) ? Math.min(Math.max(1, value), MAX_PAGE_SIZE) : fallback;
}

function pageSizeValue(size: PageSizeVariable, variables: Variables): number {
  return toPageSize(variables?.[size.variable], size.fallback);
}

function sum(parts: readonly CostFormula[]): CostFormula {
  let constant = 0;
  const terms: { weight: number; term: CostTerm }[] = [];
  for (const part of parts) {
    if (typeof part === 'number') constant += part;
    else terms.push({ weight: 1, term: part });
  }
  return terms.length === 0 ? constant : { constant, terms, pageSize: null };
}

function scale(formula: CostFormula, factor: number): CostFormula {
  if (typeof formula === 'number') return formula * factor;
  return { constant: 0, terms: [{ weight: factor, term: formula }], pageSize: null };
}

function withPageSize(formula: CostFormula, size: PageSizeVariable): CostTerm {
  return typeof formula === 'number'
    ? { constant: formula, terms: [], pageSize: size }
    : { constant: 0, terms: [{ weight: 1, term: formula }], pageSize: size };
}
