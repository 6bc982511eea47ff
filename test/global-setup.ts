import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { ensureChromium } from '../scripts/browser.js';
// `.js` resolves to the .ts file under both NodeNext type-checking and vitest.
import { ensureLocalServices, urlsFromEnv } from '../scripts/local-services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Chromium executable for the browser tests (test/web), or why there is none. */
    chromium: { path: string } | { path: null; reason: string };
  }
}

/**
 * Runs once before all test files: makes sure Postgres, Redis and NATS answer at the configured
 * URLs, starting local instances (data in `<repo>/.data`) for the ones that do not. The returned
 * teardown stops only what was started here. Also builds the web app (dist/web, about a second)
 * and finds or installs Chromium for the browser tests.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await ensureLocalServices({
    ...urlsFromEnv(),
    dataDir: fileURLToPath(new URL('../.data', import.meta.url)),
    log: (msg) => console.log(`[local-services] ${msg}`),
  });
  const { build } = await import('vite');
  await build({ configFile: fileURLToPath(new URL('../web/vite.config.ts', import.meta.url)), logLevel: 'warn' });
  const chromium = await ensureChromium((msg) => console.log(`[browser] ${msg}`));
  if (chromium.path === null) console.warn(`[browser] the browser tests are skipped: ${chromium.reason}`);
  project.provide('chromium', chromium);
  return () => services.stop();
}
