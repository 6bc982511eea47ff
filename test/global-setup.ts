import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { ensureChromium } from '../scripts/browser.js';
// `.js` resolves to the .ts file under both NodeNext type-checking and vitest.
import { ensureLocalServices, ensureTools, urlsFromEnv, type LocalServices } from '../scripts/local-services.js';
import { TEST_LOG_DIR } from './support/test-logs.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Chromium executable for the browser tests (test/web), or why there is none. */
    chromium: { path: string } | { path: null; reason: string };
  }
}

/**
 * Runs once before all test files: makes sure Postgres, Redis and NATS answer at the configured
 * URLs and can serve, starting local instances (data in `<repo>/.data`) for the ones that do not.
 * The returned teardown stops only what was started here. Also builds the web app (dist/web, about
 * a second) and finds or installs Chromium for the browser tests.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Every project (single, cluster) runs its global setup in this one process: the work is done
  // once, each project is given its result, and the services stop after the last project.
  const shared = globalThis as { testSetup?: Promise<Prepared>; testSetupUsers?: number };
  shared.testSetup ??= prepare();
  shared.testSetupUsers = (shared.testSetupUsers ?? 0) + 1;
  const { chromium, stop } = await shared.testSetup;
  project.provide('chromium', chromium);
  return async () => {
    shared.testSetupUsers = (shared.testSetupUsers ?? 1) - 1;
    if (shared.testSetupUsers === 0) await stop();
  };
}

interface Prepared {
  chromium: { path: string } | { path: null; reason: string };
  stop: () => Promise<void>;
}

async function prepare(): Promise<Prepared> {
  const log = (msg: string) => console.log(`[local-services] ${msg}`);
  const given = urlsFromEnv();
  let services: LocalServices;
  try {
    services = await ensureLocalServices({
      ...given,
      dataDir: fileURLToPath(new URL('../.data', import.meta.url)),
      log,
    });
  } catch (err) {
    // Thrown, the error would follow vitest's "No test files found", which it is not about.
    console.error(`\nThe tests cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  // The README's walkthrough is run by a test through bash, curl and jq, as a reader would run it.
  await ensureTools(
    [
      { binary: 'curl', aptPackage: 'curl' },
      { binary: 'jq', aptPackage: 'jq' },
    ],
    log,
  ).catch((err: unknown) =>
    log(`could not install curl and jq (${String(err)}); the README walkthrough test is skipped`),
  );
  rmSync(TEST_LOG_DIR, { recursive: true, force: true }); // the last run's
  // Test files run in child processes, which inherit this environment.
  const variables = { databaseUrl: 'DATABASE_URL', redisUrl: 'REDIS_URL', natsUrl: 'NATS_URL' } as const;
  for (const [key, variable] of Object.entries(variables) as [keyof typeof variables, string][]) {
    if (services.urls[key] !== given[key]) {
      process.env[variable] = services.urls[key];
      log(`the tests use ${variable}=${services.urls[key]}`);
    }
  }
  const { build } = await import('vite');
  await build({ configFile: fileURLToPath(new URL('../web/vite.config.ts', import.meta.url)), logLevel: 'warn' });
  const chromium = await ensureChromium((msg) => console.log(`[browser] ${msg}`));
  if (chromium.path === null) console.warn(`[browser] the browser tests are skipped: ${chromium.reason}`);
  console.log(`[tests] test systems log to ${TEST_LOG_DIR} (shown here only for a failed test)`);
  return { chromium, stop: () => services.stop() };
}
