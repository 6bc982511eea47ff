import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_VARIABLES, loadConfig } from '../src/config.js';

/** `.env.example`'s variables in file order, each with its value and whether a comment precedes it. */
function entries(text: string) {
  const lines = text.split('\n');
  return lines.flatMap((line, i) => {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    return match ? [{ name: match[1]!, value: match[2]!, commented: (lines[i - 1] ?? '').startsWith('# ') }] : [];
  });
}

/** The configuration without the per-start random token key, so two loads compare equal. */
function comparable(env: Record<string, string>) {
  const { auth, ...rest } = loadConfig(env);
  return { ...rest, auth: { ...auth, jwtSecret: auth.jwtSecretIsEphemeral ? 'ephemeral' : auth.jwtSecret } };
}

describe('.env.example', () => {
  const listed = entries(readFileSync(new URL('../.env.example', import.meta.url), 'utf8'));

  it('lists every variable of the configuration schema once, and nothing else', () => {
    expect(listed.map((e) => e.name).sort()).toEqual([...ENV_VARIABLES].sort());
  });

  it('gives each variable a one-line comment and, where there is one, its default as the value', () => {
    const defaults = comparable({});
    for (const { name, value, commented } of listed) {
      expect(commented, `${name} has a comment`).toBe(true);
      expect(comparable({ [name]: value }), `${name}=${value} is the default`).toEqual(defaults);
    }
  });
});

describe("the README's configuration table", () => {
  it('documents every variable of the configuration schema', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const documented = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]*)` +\|/gm)].map((m) => m[1]));
    expect(ENV_VARIABLES.filter((name) => !documented.has(name))).toEqual([]);
  });
});
