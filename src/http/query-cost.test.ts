import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { Kind, buildSchema, parse, validate, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { costFormula, queryCost, type Variables } from './query-cost.js';

const schema = buildSchema(`
  type Item { id: ID!  name: String!  children(first: Int = 5): [Item!]! }
  type Query { items(first: Int = 20, after: String): [Item!]!  item(id: ID!): Item  count: Int! }
`);

function cost(query: string, variables?: Variables): number {
  const document = parse(query);
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  )!;
  return queryCost(costFormula(schema, document, operation), variables);
}

/** graphql-armor's own count, for documents without fragments (where the models agree). */
function armorCost(query: string): number {
  let found = Number.NaN;
  const rule = costLimitRule({
    maxCost: Number.MAX_SAFE_INTEGER,
    onAccept: [
      (_ctx, { n }: { n: number }) => {
        found = n;
      },
    ],
  });
  validate(schema, parse(query), [rule]);
  return found;
}

describe('queryCost', () => {
  it.each([
    '{ count }',
    '{ item(id: "1") { id name } }',
    '{ items(first: 7) { id children(first: 3) { id name } } }',
    '{ a: items(first: 100) { id } b: items(first: 2) { name } count }',
  ])('counts literal page sizes as graphql-armor does: %s', (query) => {
    expect(cost(query)).toBe(armorCost(query));
  });

  it('counts a page size in a variable as the same literal', () => {
    const literal = cost('{ items(first: 40) { id children(first: 3) { id } } }');
    const query = 'query($n: Int, $m: Int) { items(first: $n) { id children(first: $m) { id } } }';
    expect(cost(query, { n: 40, m: 3 })).toBe(literal);
    expect(cost(query, { n: 80, m: 3 })).toBeGreaterThan(literal);
  });

  it("falls back to the variable's default, then the argument's default, when the variable is absent or null", () => {
    expect(cost('query($n: Int = 40) { items(first: $n) { id } }')).toBe(cost('{ items(first: 40) { id } }'));
    expect(cost('query($n: Int) { items(first: $n) { id } }', { n: null })).toBe(cost('{ items(first: 20) { id } }'));
    expect(cost('{ items { id children { id } } }')).toBe(
      cost('{ items(first: 20) { id children(first: 5) { id } } }'),
    );
  });

  it('counts a page size below one as one, over the largest page as the largest page, and not a number as absent', () => {
    const one = cost('{ items(first: 1) { id } }');
    expect(cost('query($n: Int) { items(first: $n) { id } }', { n: -50 })).toBe(one);
    expect(cost('query($n: Int) { items(first: $n) { id } }', { n: 1e9 })).toBe(cost('{ items(first: 100) { id } }'));
    expect(cost('query($n: Int) { items(first: $n) { id } }', { n: 'many' })).toBe(cost('{ items { id } }'));
  });

  it('counts a fragment as its fields written in place, however often it is spread', () => {
    const inline = cost('query($n: Int) { a: items(first: $n) { id name } b: items(first: $n) { id name } }', { n: 9 });
    const spread = cost(
      'query($n: Int) { a: items(first: $n) { ...F } b: items(first: $n) { ... on Item { ...F } } } fragment F on Item { id name }',
      { n: 9 },
    );
    expect(spread).toBe(inline);
  });

  it('evaluates a fragment spread in a doubling chain once per request, yet counts every use', () => {
    // 2^39 uses of the last fragment: counted one by one, this would never finish.
    const depth = 40;
    const fragments = Array.from({ length: depth }, (_, i) =>
      i === depth - 1
        ? `fragment F${i} on Query { items(first: $n) { id } }`
        : `fragment F${i} on Query { ...F${i + 1} ... on Query { ...F${i + 1} } }`,
    );
    const query = `query($n: Int) { ...F0 } ${fragments.join(' ')}`;
    expect(cost(query, { n: 10 }) - cost(query, { n: 1 })).toBe(2 ** (depth - 1) * 9 * 3.5);
  });
});
