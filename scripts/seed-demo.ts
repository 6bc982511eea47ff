/**
 * `node dist/scripts/seed-demo.js`: the demo data of `npm run demo` (scripts/seed.ts) for a
 * deployment whose Postgres, Redis and NATS already run, such as docker compose's one-shot `seed`
 * service. It starts a gateway-only instance on a free port with the deployment's configuration,
 * seeds through the same services the API uses, and stops. Idempotent, like the demo.
 *
 * It refuses NODE_ENV=production: the demo admin's password is public.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startApp } from '../src/app.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { DEFAULT_ADMIN_EMAIL, seedDemoData, type SeedSummary } from './seed.js';

/** Seeds the deployment `env` describes; null (and nothing written) in production. */
export async function seedDeployment(env: Record<string, string | undefined>): Promise<SeedSummary | null> {
  // Before the configuration is loaded: production may not even be allowed to start as configured.
  if (env['NODE_ENV'] === 'production') return null;
  const config = loadConfig({
    ...env,
    // As the demo: the admin account gets its role from ADMIN_EMAILS when it signs up.
    ADMIN_EMAILS: env['ADMIN_EMAILS'] || DEFAULT_ADMIN_EMAIL,
    ROLE: 'gateway',
    PORT: '0',
  });
  const app = await startApp(config);
  try {
    return await seedDemoData(app);
  } finally {
    await app.stop();
  }
}

async function main(): Promise<void> {
  const summary = await seedDeployment(process.env);
  if (!summary) {
    console.log('seed: NODE_ENV=production, so no demo data (its admin password is public); nothing was changed');
    return;
  }
  const created = summary.events.filter((e) => e.created).length;
  console.log(
    `seed: admin ${summary.admin.email} / ${summary.admin.password} (${summary.admin.created ? 'created' : 'already there'}); ` +
      `${summary.events.length} demo events (${created} created, ${summary.events.length - created} already there)`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
