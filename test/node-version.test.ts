import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeVersionProblem, REQUIRED_NODE_MAJOR } from '../src/node-version.js';

const execFileAsync = promisify(execFile);

/**
 * The entry file refuses a wrong Node before the real program (and its native addons) loads. It
 * runs the real src/main.ts and src/node-version.ts, transpiled, next to a stand-in for run-role.js
 * that only says it was loaded; a preload makes Node report another version.
 */
describe('the entry point on the wrong Node', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'node-version-'));
    for (const name of ['main', 'node-version']) {
      const source = await readFile(new URL(`../src/${name}.ts`, import.meta.url), 'utf8');
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      });
      await writeFile(join(dir, `${name}.js`), outputText);
    }
    await writeFile(join(dir, 'run-role.js'), "console.log('run-role loaded');\n");
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const runEntry = (version: string) => {
    const fake = `Object.defineProperty(process.versions, 'node', { value: '${version}' });`;
    return execFileAsync(
      process.execPath,
      ['--import', `data:text/javascript,${encodeURIComponent(fake)}`, 'main.js'],
      {
        cwd: dir,
      },
    ).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
  };

  it('exits with code 1 and says which Node to use, without loading the program', async () => {
    const { code, stdout, stderr } = await runEntry('20.20.2');
    expect(code).toBe(1);
    expect(stdout).not.toContain('run-role loaded');
    expect(stderr).toContain(`needs Node ${REQUIRED_NODE_MAJOR}, but it was started with Node 20.20.2`);
    expect(stderr).toContain('npm start');
    expect(stderr).toContain('npx node dist/src/main.js');
  });

  it('loads the program on the right Node', async () => {
    const { code, stdout } = await runEntry(`${REQUIRED_NODE_MAJOR}.1.0`);
    expect(code).toBe(0);
    expect(stdout).toContain('run-role loaded');
  });
});

describe('nodeVersionProblem', () => {
  it('accepts the major version of the node devDependency and nothing else', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const devNode = pkg.devDependencies['node']!;
    expect(Number(devNode.split('.')[0])).toBe(REQUIRED_NODE_MAJOR);
    expect(nodeVersionProblem(devNode)).toBeUndefined();
    expect(nodeVersionProblem('25.0.0')).toMatch(/needs Node 24/);
    expect(nodeVersionProblem('20.20.2')).toMatch(/needs Node 24/);
  });
});
