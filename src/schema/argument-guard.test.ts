import { compileQuery, isCompiledQuery } from 'graphql-jit';
import { buildSchema, execute, parse, subscribe, type ExecutionResult, type GraphQLInputObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { guardArguments } from './argument-guard.js';

const sdl = `
  input Note { text: String!  body: String  tags: [String!] }
  type Query {
    echo(text: String, id: ID, notes: [Note!], count: Int): String
    plain: String
  }
  type Subscription { ticks(id: ID!): String }
`;

function guardedSchema() {
  const schema = buildSchema(sdl);
  const query = schema.getQueryType()!.getFields();
  query['echo']!.resolve = (_src, args: Record<string, unknown>) => JSON.stringify(args);
  (schema.getType('Note') as GraphQLInputObjectType).getFields()['body']!.extensions = { multiline: true };
  const ticks = schema.getSubscriptionType()!.getFields()['ticks']!;
  ticks.subscribe = async function* () {
    yield { ticks: 'tick' };
  };
  return guardArguments(schema);
}

function refusal(result: ExecutionResult) {
  return result.errors?.map((e) => ({ message: e.message, extensions: e.extensions }));
}

describe('guardArguments', () => {
  const schema = guardedSchema();
  const cases: [string, Record<string, unknown>, string, string][] = [
    ['a top-level String', { text: 'a\u0000b' }, 'text', 'must not contain control characters'],
    ['an ID', { id: '\u007f' }, 'id', 'must not contain control characters'],
    [
      'a field of an input object in a list',
      { notes: [{ text: 'ok' }, { text: '\ud800' }] },
      'notes[1].text',
      'must not contain unpaired surrogates',
    ],
    [
      'a list inside an input object',
      { notes: [{ text: 'ok', tags: ['a', 'b\u0085'] }] },
      'notes[0].tags[1]',
      'must not contain control characters',
    ],
    [
      'a multi-line field with a NUL',
      { notes: [{ text: 'ok', body: 'x\u0000' }] },
      'notes[0].body',
      'must not contain control characters other than tab and line breaks',
    ],
  ];
  const document = parse(
    'query($text: String, $id: ID, $notes: [Note!]) { echo(text: $text, id: $id, notes: $notes) }',
  );
  const compiled = compileQuery(schema, document);
  if (!isCompiledQuery(compiled)) throw new Error('did not compile');

  it.each(cases)(
    'refuses %s naming its path, executed by graphql-js and by graphql-jit',
    async (_what, variables, field, problem) => {
      const expected = [{ message: `${field}: ${problem}`, extensions: { code: 'BAD_USER_INPUT', field } }];
      expect(refusal(await execute({ schema, document, variableValues: variables }))).toEqual(expected);
      expect(refusal(await compiled.query(undefined, {}, variables))).toEqual(expected);
    },
  );

  it('passes text through untouched, line breaks where the field is multi-line', async () => {
    const variables = { text: 'Zoë 🎟️', notes: [{ text: 'ok', body: 'one\r\n\ttwo', tags: ['x'] }] };
    const result = await compiled.query(undefined, {}, variables);
    expect(result.errors).toBeUndefined();
    expect(JSON.parse((result.data as { echo: string }).echo)).toEqual(variables);
  });

  it('checks literals as well as variables', async () => {
    const result = await execute({ schema, document: parse('{ echo(text: "a\\u0001") }') });
    expect(refusal(result)).toEqual([
      { message: 'text: must not contain control characters', extensions: { code: 'BAD_USER_INPUT', field: 'text' } },
    ]);
  });

  it('refuses a subscription before it subscribes', async () => {
    const result = await subscribe({ schema, document: parse('subscription { ticks(id: "\\u0000") }') });
    expect(refusal(result as ExecutionResult)).toEqual([
      { message: 'id: must not contain control characters', extensions: { code: 'BAD_USER_INPUT', field: 'id' } },
    ]);
    const ok = await subscribe({ schema, document: parse('subscription { ticks(id: "1") }') });
    expect(Symbol.asyncIterator in ok).toBe(true);
  });

  it('leaves a field without text arguments with its default resolver (graphql-jit reads it as a property)', () => {
    expect(schema.getQueryType()!.getFields()['plain']!.resolve).toBeUndefined();
  });
});
