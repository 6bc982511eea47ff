/**
 * `npm run demo`: the whole system on this machine with demo data, in one command.
 *
 * Starts Postgres, Redis and NATS locally when nothing answers at their URLs (installing them with
 * apt-get on a fresh Debian when run as root; data in `<repo>/.data`), starts every role of the app,
 * seeds an admin and a few events, and prints where to go. Ctrl-C stops the app and whatever
 * services this command started; services that were already running are left alone.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApp, type App } from '../src/app.js';
import { ConfigError, loadConfig, type Config } from '../src/config.js';
import { StartupError } from '../src/errors.js';
import { ensureLocalServices, urlsFromEnv, type LocalServices } from './local-services.js';
import { DEFAULT_ADMIN_EMAIL, seedDemoData, type SeedSummary } from './seed.js';

/** The repository root: the nearest folder above this file with a package.json (works from dist/ too). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above scripts/demo');
    dir = parent;
  }
  return dir;
}

/** The environment with the demo's defaults filled in; process.env itself is left untouched. */
function demoEnv(): Record<string, string | undefined> {
  return { ...process.env, ADMIN_EMAILS: process.env['ADMIN_EMAILS'] || DEFAULT_ADMIN_EMAIL };
}

function printBanner(config: Config, app: App, seed: SeedSummary): void {
  const graphql = `http://127.0.0.1:${app.port}/graphql`;
  const created = seed.events.filter((e) => e.created).length;
  const sample = JSON.stringify({ query: '{ events(query: "jazz") { edges { node { id title status } } } }' });
  const lines = [
    '',
    'Flash-sale ticketing is running with demo data.',
    '',
    `  Web app (open in a browser): http://127.0.0.1:${app.port}/  (operator page: /admin, as the admin below)`,
    config.graphiql
      ? `  GraphiQL (open in a browser): ${graphql}`
      : `  GraphQL endpoint: ${graphql} (GraphiQL is off in production; set GRAPHIQL=true)`,
    `  Admin: ${seed.admin.email} / ${seed.admin.password}` +
      (seed.admin.created ? '' : '  (the account existed already; this is its password if the demo made it)'),
    `  Events: ${seed.events.length} demo events (${created} created now, ${seed.events.length - created} already there)`,
    '',
    '  Try:',
    `    curl -s -H 'content-type: application/json' -d '${sample}' ${graphql}`,
    '',
    '  Press Ctrl-C to stop.',
    '',
  ];
  console.log(lines.join('\n'));
}

async function main(): Promise<void> {
  const env = demoEnv();
  const configOrExit = (e: Record<string, string | undefined>): Config => {
    try {
      return loadConfig(e);
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(err.message);
        process.exit(2);
      }
      throw err;
    }
  };
  configOrExit(env); // a bad variable is reported before anything is installed or started

  let services: LocalServices;
  try {
    services = await ensureLocalServices({
      ...urlsFromEnv(env),
      dataDir: join(repoRoot(), '.data'),
      log: (msg) => console.log(`[local-services] ${msg}`),
    });
  } catch (err) {
    // Its messages name the service, the problem and the fix; a stack would bury them.
    console.error(`[local-services] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  // A service of our own on another port (the one at the URL could not serve) is the one to use.
  const config = configOrExit({
    ...env,
    DATABASE_URL: services.urls.databaseUrl,
    REDIS_URL: services.urls.redisUrl,
    NATS_URL: services.urls.natsUrl,
  });

  let app: App | undefined;
  const stopAll = async () => {
    // The app first (it drains requests and workers while its dependencies still answer).
    await app?.stop();
    await services.stop();
  };

  let signals = 0;
  const shutdown = (signal: string) => {
    signals += 1;
    if (signals > 1) process.exit(1); // a second Ctrl-C means "now"
    console.log(`\n${signal}: stopping${services.started.length ? ` the app and ${services.started.join(', ')}` : ''}`);
    stopAll().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('shutdown failed:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  try {
    app = await startApp(config);
    const seed = await seedDemoData(app);
    printBanner(config, app, seed);
  } catch (err) {
    // Do not leave services behind that only this run needed.
    await stopAll().catch(() => undefined);
    throw err;
  }
}

main().catch((err: unknown) => {
  // A start-up problem (a service that cannot serve) is told in its message; the stack adds nothing.
  console.error(err instanceof StartupError ? err.message : err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
