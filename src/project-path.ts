import { fileURLToPath } from 'node:url';

/**
 * A path in the project's folder (`relative` to it), the same whether this code runs from its
 * sources (src/) or built (dist/src/): the files the server reads that tsc does not emit.
 */
export function projectPath(relative: string): string {
  const built = /\/dist\/src\/[^/]+$/.test(import.meta.url);
  return fileURLToPath(new URL(`${built ? '../../' : '../'}${relative}`, import.meta.url));
}
