import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Every job enters JetStream through publishJob (src/infra/nats.ts), which always sets a message
// id: a publish without one would make a retry a second job.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src');
const DIRECT_PUBLISH = /\bjs\s*\.\s*publish\s*\(/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('JetStream publishing', () => {
  it('recognises a direct publish', () => {
    expect(DIRECT_PUBLISH.test('await nats.js.publish(subject, data)')).toBe(true);
    expect(DIRECT_PUBLISH.test('live.publish(topic, key, payload)')).toBe(false);
  });

  it('goes through publishJob only', () => {
    const direct = sourceFiles(srcDir)
      .filter((path) => relative(srcDir, path) !== join('infra', 'nats.ts'))
      .filter((path) => DIRECT_PUBLISH.test(readFileSync(path, 'utf8')))
      .map((path) => relative(root, path));
    expect(direct).toEqual([]);
    expect(DIRECT_PUBLISH.test(readFileSync(join(srcDir, 'infra', 'nats.ts'), 'utf8'))).toBe(true);
  });
});
