import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// SQL lives in repositories (src/**/*.repository.ts), migrations and the infra adapters; services,
// workers and routes speak to those. The check reads each file's syntax tree, so comments and
// names never count, while a statement hidden in any string, template or raw-SQL call does.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src');

/** Where SQL is allowed. */
function mayHoldSql(path: string): boolean {
  const rel = relative(srcDir, path).split('\\').join('/');
  return rel.startsWith('migrations/') || rel.startsWith('infra/') || rel.endsWith('.repository.ts');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Methods that send SQL text as it is (MikroORM's em.execute, knex/kysely escapes, query builders). */
const RAW_CALLS = new Set(['execute', 'raw', 'getKnex', 'getKysely', 'getConnection', 'createQueryBuilder', 'qb']);
/** Text that reads as an SQL statement. */
const SQL_TEXT = [
  /\bselect\b[^;!]*\bfrom\s+[a-z_]/i, // within one statement (a sentence may say both words)
  /\binsert\s+into\b/i,
  /\bupdate\s+[a-z_]+\s+set\b/i,
  /\bdelete\s+from\b/i,
  /\bfor\s+update\b/i,
];

/** Every place in the source that sends or spells raw SQL, as `line: what`. */
function rawSqlIn(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const at = (node: ts.Node, what: string) =>
    found.push(`${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}: ${what}`);
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const name = node.expression.name.text;
      if (RAW_CALLS.has(name)) at(node, `.${name}(…)`);
    }
    if (ts.isTaggedTemplateExpression(node) && /^(sql|raw)$/i.test(node.tag.getText(source))) {
      at(node, `${node.tag.getText(source)}\`…\``);
    }
    let literal: string | undefined;
    if (ts.isStringLiteralLike(node)) literal = node.text;
    else if (ts.isTemplateExpression(node)) {
      literal = [node.head.text, ...node.templateSpans.map((span) => span.literal.text)].join(' ');
    }
    if (literal !== undefined && SQL_TEXT.some((pattern) => pattern.test(literal))) {
      at(node, `SQL text "${literal.replace(/\s+/g, ' ').trim().slice(0, 60)}"`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('raw SQL in src/', () => {
  it('appears only in repositories, migrations and infra adapters', () => {
    const report = sourceFiles(srcDir)
      .filter((file) => !mayHoldSql(file))
      .flatMap((file) => rawSqlIn(file, readFileSync(file, 'utf8')).map((hit) => `${relative(root, file)}:${hit}`));
    if (report.length > 0) console.error(`Raw SQL outside repositories:\n${report.join('\n')}`);
    expect(report).toEqual([]);
  });

  it('finds raw SQL however it is written, so a clean result means something', () => {
    const sample = [
      'await em.execute(q, []);',
      'const q = `select id from orders where id = ?`;',
      "const q = 'insert into bookings (id) values (?)';",
      'const q = `update stock set available = ${n} where event_id = ?`;',
      'const q = sql`delete from outbox`;',
      "em.getKnex().raw('now()');",
    ].join('\n');
    expect(rawSqlIn('sample.ts', sample).map((hit) => hit.split(':')[0])).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '5',
      '6',
      '6',
    ]);
  });

  it('leaves comments, names and ordinary text alone', () => {
    const sample = [
      '// select the order from the repository, then update it',
      'const selectFromList = (updates: string[]) => updates;',
      "throw new Error('Please select a seat; updates from the sale follow!');",
      'await em.find(Order, { id });',
    ].join('\n');
    expect(rawSqlIn('sample.ts', sample)).toEqual([]);
  });

  it('allows SQL where it belongs', () => {
    expect(mayHoldSql(join(srcDir, 'services/orders/order.repository.ts'))).toBe(true);
    expect(mayHoldSql(join(srcDir, 'migrations/2026-11-26-initial.migration.ts'))).toBe(true);
    expect(mayHoldSql(join(srcDir, 'infra/database.ts'))).toBe(true);
    expect(mayHoldSql(join(srcDir, 'services/orders/order.service.ts'))).toBe(false);
    expect(mayHoldSql(join(srcDir, 'workers/stock.sweeper.ts'))).toBe(false);
  });
});
