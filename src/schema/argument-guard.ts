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
      const check = argumentsCheck(field.args);
      if (!check) continue;
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

/** Checks one value of a type that can hold text; `path` names it in the refusal. */
type ValueCheck = (value: unknown, path: string) => void;

/**
 * The check of a field's arguments, worked out once from their types (it runs on every call of
 * the field, bookTicket's included), or null when no argument can hold text.
 */
function argumentsCheck(defs: readonly GraphQLArgument[]): ((args: Record<string, unknown>) => void) | null {
  const checks = defs.flatMap((def) => {
    const check = valueCheck(def.type, false);
    return check ? [{ name: def.name, check }] : [];
  });
  if (checks.length === 0) return null;
  return (args) => {
    for (const { name, check } of checks) check(args[name], name);
  };
}

function valueCheck(type: GraphQLInputType, multiline: boolean): ValueCheck | null {
  if (!holdsText(type)) return null;
  const inner = getNullableType(type);
  if (isListType(inner)) {
    const item = valueCheck(inner.ofType, multiline)!;
    return (value, path) => {
      if (Array.isArray(value)) value.forEach((v, i) => item(v, `${path}[${i}]`));
    };
  }
  if (isInputObjectType(inner)) {
    // Worked out at the first value, so an input type that contains itself does not recurse here.
    let fields: { name: string; check: ValueCheck }[] | undefined;
    return (value, path) => {
      if (value === null || value === undefined) return;
      fields ??= Object.values(inner.getFields()).flatMap((field) => {
        const check = valueCheck(field.type, field.extensions['multiline'] === true);
        return check ? [{ name: field.name, check }] : [];
      });
      const record = value as Record<string, unknown>;
      for (const { name, check } of fields) check(record[name], `${path}.${name}`);
    };
  }
  const options = { multiline };
  return (value, path) => {
    if (typeof value !== 'string') return;
    const problem = textProblem(value, options);
    if (problem) throw BadInputError.field(path, problem);
  };
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
