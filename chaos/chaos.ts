/**
 * `npm run chaos`: the fault-injection suite. Starts private Postgres, Redis and NATS on free ports,
 * then for each scenario runs 2 gateways and 2 workers as separate processes behind chaos proxies,
 * a seeded sale with its fault, and checks the design's invariants once the sale settles.
 *
 *   npm run chaos                       every scenario
 *   npm run chaos -- --short            kill -9 worker, SIGSTOP worker, Redis restarted empty
 *   npm run chaos -- --scenario NAME    one scenario (repeatable)
 *   npm run chaos -- --seed N           replay a run's workload and fault moments
 *   npm run chaos -- --buyers N         buyers per scenario (default 150)
 *
 * Prints the seed, one line per scenario and invariant, and exits 1 if any invariant fails.
 * Everything it started is stopped and removed at the end, on failure and on Ctrl-C too.
 */
import { parseArgs } from 'node:util';
import { runScenario, type ScenarioResult } from './run-scenario.js';
import { scenarios } from './scenarios.js';
import { startPrivateServices, type PrivateServices } from './services.js';

const USAGE = 'usage: npm run chaos -- [--short] [--scenario NAME]... [--seed N] [--buyers N]';

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      short: { type: 'boolean', default: false },
      scenario: { type: 'string', multiple: true },
      seed: { type: 'string' },
      buyers: { type: 'string', default: '150' },
    },
  });
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const buyers = Number(values.buyers);
  const unknown = (values.scenario ?? []).filter((n) => !scenarios.some((s) => s.name === n));
  if (!Number.isInteger(seed) || !Number.isInteger(buyers) || buyers < 1 || unknown.length) {
    console.error(
      `${unknown.length ? `unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}\n` : ''}${USAGE}`,
    );
    return 2;
  }
  const chosen = values.scenario
    ? scenarios.filter((s) => values.scenario!.includes(s.name))
    : scenarios.filter((s) => !values.short || s.short);
  console.log(`chaos: seed ${seed} (replay with --seed ${seed}), ${chosen.length} scenario(s), ${buyers} buyers each`);

  const cleanups = new Set<() => Promise<void>>();
  let services: PrivateServices | undefined;
  const stopAll = async () => {
    for (const c of [...cleanups].reverse()) await c().catch(() => undefined);
    cleanups.clear();
    await services?.stop();
    services = undefined;
  };
  const onSignal = (signal: string) => {
    console.error(`${signal}: stopping everything the chaos suite started`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: ScenarioResult[] = [];
  try {
    services = await startPrivateServices((m) => console.log(`  ${m}`));
    const started = services;
    for (const scenario of chosen) {
      const t0 = Date.now();
      try {
        const result = await runScenario(scenario, started, {
          seed,
          buyers,
          log: (m) => console.log(`  ${m}`),
          onAbort: (c) => {
            cleanups.add(c);
            return () => cleanups.delete(c);
          },
        });
        results.push(result);
      } catch (err) {
        results.push({
          name: scenario.name,
          settled: false,
          checks: [{ name: 'scenario ran', pass: false, detail: String(err).slice(0, 500) }],
        });
      }
      const r = results[results.length - 1]!;
      console.log(
        `${r.checks.every((c) => c.pass) ? 'PASS' : 'FAIL'} ${scenario.name} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
      );
      for (const c of r.checks) console.log(`  ${c.pass ? 'PASS' : 'FAIL'} ${scenario.name} / ${c.name}: ${c.detail}`);
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stopAll();
  }
  const failed = results.filter((r) => r.checks.some((c) => !c.pass));
  console.log(
    failed.length
      ? `chaos: ${failed.length} of ${results.length} scenario(s) failed (${failed.map((r) => r.name).join(', ')}); seed ${seed}`
      : `chaos: all ${results.length} scenario(s) passed; seed ${seed}`,
  );
  return failed.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
