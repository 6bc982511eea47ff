import {
  defaultFieldResolver,
  getNamedType,
  getNullableType,
  isInputObjectType,
  isListType,
  isObjectType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLFieldResolver,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';
import { BadInputError } from '../errors.js';
import { textProblem } from '../services/shared/validation.js';

/** Marks an input field as multi-line text, where tab and line breaks are allowed: `@Extensions(MULTILINE)`. */
export const MULTILINE = { multiline: true } as const;

/**
 * Refuses, before any resolver runs, every String or ID argument (at any depth of input objects and
 * lists) that holds a control character or an unpaired surrogate: BAD_USER_INPUT naming the field
 * (`idempotencyKey`, `input.title`). It wraps the schema's own `resolve` and `subscribe` functions,
 * so it holds for every operation however it is executed: Apollo, the compiled graphql-jit path
 * (which calls the same resolve functions) and graphql-ws. Not a type-graphql middleware: those
 * run around `resolve` only, never around a subscription's `subscribe`.
 *
 * Arguments reach these functions already coerced, whether they came as literals or variables.
 * Fields without arguments keep their resolver untouched (graphql-jit compiles a default one to a
 * plain property read).
 */
export function guardArguments(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (!field.args.some((arg) => holdsText(arg.type))) continue;
      const check = (args: Record<string, unknown>) => checkArguments(field.args, args);
      field.resolve = guarded(field.resolve ?? defaultFieldResolver, check);
      if (field.subscribe) field.subscribe = guarded(field.subscribe, check);
    }
  }
  return schema;
}

function guarded(
  fn: GraphQLFieldResolver<unknown, unknown>,
  check: (args: Record<string, unknown>) => void,
): GraphQLFieldResolver<unknown, unknown> {
  return (source, args: Record<string, unknown>, context, info) => {
    check(args);
    return fn(source, args, context, info);
  };
}

function checkArguments(defs: readonly GraphQLArgument[], args: Record<string, unknown>): void {
  for (const def of defs) checkValue(def.type, args[def.name], def.name, false);
}

function checkValue(type: GraphQLInputType, value: unknown, path: string, multiline: boolean): void {
  if (value === null || value === undefined) return;
  const inner = getNullableType(type);
  if (isListType(inner)) {
    if (Array.isArray(value)) value.forEach((item, i) => checkValue(inner.ofType, item, `${path}[${i}]`, multiline));
    return;
  }
  if (isInputObjectType(inner)) {
    const record = value as Record<string, unknown>;
    for (const field of Object.values(inner.getFields())) {
      checkValue(field.type, record[field.name], `${path}.${field.name}`, field.extensions['multiline'] === true);
    }
    return;
  }
  if (isText(inner) && typeof value === 'string') {
    const problem = textProblem(value, { multiline });
    if (problem) throw BadInputError.field(path, problem);
  }
}

/** Whether a value of this type can contain a String or ID somewhere. */
function holdsText(type: GraphQLInputType, seen = new Set<unknown>()): boolean {
  const named = getNamedType(type);
  if (isText(named)) return true;
  if (!isInputObjectType(named) || seen.has(named)) return false;
  seen.add(named);
  return Object.values(named.getFields()).some((field) => holdsText(field.type, seen));
}

function isText(type: GraphQLNamedType | GraphQLInputType): boolean {
  return isScalarType(type) && (type.name === 'String' || type.name === 'ID');
}
