import { fileURLToPath } from 'node:url';
// `.js` resolves to the .ts file under both NodeNext type-checking and vitest.
import { ensureLocalServices, urlsFromEnv } from '../scripts/local-services.js';

/**
 * Runs once before all test files: makes sure Postgres, Redis and NATS answer at the configured
 * URLs, starting local instances (data in `<repo>/.data`) for the ones that do not. The returned
 * teardown stops only what was started here.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const services = await ensureLocalServices({
    ...urlsFromEnv(),
    dataDir: fileURLToPath(new URL('../.data', import.meta.url)),
    log: (msg) => console.log(`[local-services] ${msg}`),
  });
  return () => services.stop();
}
