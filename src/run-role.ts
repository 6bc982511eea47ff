import { setFlagsFromString } from 'node:v8';
import { startApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { StartupError } from './errors.js';
import { createLogger } from './logger.js';

/** One process of the system in its ROLE, until SIGTERM or SIGINT; loaded by main.ts once the Node version is right. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  // Read at every full GC, so it takes effect from here on; objects of requests that waited
  // seconds die in the old space, and V8's own factor would let them pile up to 4× the live heap.
  if (config.heapGrowingPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`);
  const log = createLogger(config.logLevel, { role: config.role });
  const app = await startApp(config, log);

  let signals = 0;
  const shutdown = (signal: string) => {
    signals += 1;
    if (signals > 1) process.exit(1); // a second signal means "now"
    log.info({ signal }, 'shutting down');
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err instanceof StartupError ? err.message : err);
  process.exit(1);
});
