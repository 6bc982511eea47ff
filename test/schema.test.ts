import { readFile } from 'node:fs/promises';
import { generate, loadCodegenConfig } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import { printAppSchema } from '../src/http/print-schema.js';

const root = new URL('..', import.meta.url);

describe('checked-in artefacts', () => {
  it('schema.graphql is what the code generates (run `npm run schema` after changing the API)', async () => {
    const onDisk = await readFile(new URL('schema.graphql', root), 'utf8');
    expect(onDisk).toBe(await printAppSchema());
  });

  it('the typed test documents are generated from the current schema (run `npm run codegen`)', async () => {
    const { config } = await loadCodegenConfig({ configFilePath: new URL('codegen.yml', root).pathname });
    const outputs = (await generate({ ...config, cwd: root.pathname, silent: true }, false)) as {
      filename: string;
      content: string;
    }[];
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      const onDisk = await readFile(new URL(output.filename, root), 'utf8');
      expect(onDisk, output.filename).toBe(output.content);
    }
  });
});
