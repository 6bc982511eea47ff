import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The layers only point one way (http → resolvers → services → infra) when no module imports
// itself through others. Type-only imports count: a type in the wrong file is the usual first step
// of a circle. Only relative specifiers are followed; packages cannot import our sources.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The files a module names in its static `import … from` and `export … from` statements. */
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const targets: string[] = [];
  for (const statement of source.statements) {
    const specifier =
      ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement) ? statement.moduleSpecifier : undefined;
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue;
    targets.push(resolve(dirname(file), specifier.text.replace(/\.js$/, '.ts')));
  }
  return targets;
}

/** Each strongly connected component of more than one file (or a file importing itself). */
function circles(graph: Map<string, string[]>): string[][] {
  // Tarjan's algorithm: one depth-first walk finds every component.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node)!.includes(node)) found.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** One shortest path from `start` back to itself inside its component, to show how the circle closes. */
function loopThrough(start: string, component: string[], graph: Map<string, string[]>): string[] {
  const members = new Set(component);
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(cameFrom.get(path[0]!)!);
        return [...path, start];
      }
      if (!cameFrom.has(next)) {
        cameFrom.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start];
}

const graph = new Map(sourceFiles(srcDir).map((file) => [file, importsOf(file)]));
const name = (file: string): string => relative(root, file);

describe('the import graph of src/', () => {
  it('has no import circles', () => {
    const report = circles(graph).map((component) => {
      const loop = loopThrough(component[0]!, component, graph).map(name).join('\n    → ');
      return `${component.length} files: ${component.map(name).join(', ')}\n  e.g. ${loop}`;
    });
    if (report.length > 0) console.error(`Import circles in src/:\n${report.join('\n\n')}`);
    expect(report).toEqual([]);
  });

  it('lets only the entry point import the composition root src/app.ts', () => {
    const app = join(srcDir, 'app.ts');
    const importers = [...graph].filter(([, targets]) => targets.includes(app)).map(([file]) => name(file));
    expect(importers).toEqual(['src/run-role.ts']);
  });

  it('finds a circle when there is one, so a clean result means something', () => {
    const sample = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
    ]);
    expect(circles(sample)).toEqual([['a', 'b', 'c']]);
    expect(loopThrough('a', ['a', 'b', 'c'], sample)).toEqual(['a', 'b', 'c', 'a']);
  });
});
