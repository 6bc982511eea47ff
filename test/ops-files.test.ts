import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startTestSystem, type TestSystem } from './support/system.js';

/**
 * The operator's files (ops/prometheus.yml, ops/grafana/dashboard.json, docker-compose.yml) checked
 * against the code: the dashboard only asks for metrics a process serves, and the compose file's
 * seed runs a script the image has. Docker itself does not run here.
 */

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'offset',
  'bool',
]);
const PROMQL_WORDS_BEFORE_PARENS = /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g;

/** The metric names a PromQL expression selects: identifiers that are not functions, keywords or labels. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range and subquery windows
    .replace(PROMQL_WORDS_BEFORE_PARENS, ''); // grouping label lists
  const names = [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?!\s*\(|[a-zA-Z0-9_:])/g)].map((m) => m[0]);
  return names.filter((n) => !PROMQL_WORDS.has(n) && !/^(e|inf|nan)$/i.test(n));
}

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

describe('the PromQL parser of this test', () => {
  it('finds the metrics and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, operation) (rate(payment_provider_call_seconds_bucket{a="b(c)"}[5m])))',
      ),
    ).toEqual(['payment_provider_call_seconds_bucket']);
    expect(metricNames('sum(rate(a_total[1m])) / sum(rate(b_total{status=~"5.."}[5m])) > 0.5')).toEqual([
      'a_total',
      'b_total',
    ]);
    expect(metricNames('max by (job, instance) (nodejs_eventloop_lag_p99_seconds)')).toEqual([
      'nodejs_eventloop_lag_p99_seconds',
    ]);
  });
});

describe('ops/grafana/dashboard.json', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(async () => {
    await sys.stop();
  });

  const dashboard = JSON.parse(read('ops/grafana/dashboard.json')) as { panels: Panel[]; uid: string };
  const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it('charts the metrics an operator needs', () => {
    const asked = new Set(queries.flatMap((q) => metricNames(q.expr)));
    for (const name of [
      'booking_attempts_total',
      'booking_decision_seconds_bucket',
      'booking_queue_pending',
      'order_transitions_total',
      'payment_provider_calls_total',
      'payment_webhooks_total',
      'notifications_created_total',
      'push_deliveries_total',
      'http_requests_total',
      'graphql_errors_total',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
    ]) {
      expect(asked, name).toContain(name);
    }
  });

  it('asks only for metrics that a process serves on /metrics', async () => {
    const res = await fetch(`${sys.app.url}/metrics`);
    expect(res.status).toBe(200);
    const served = new Map(
      [...(await res.text()).matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const),
    );
    // A histogram's series are its name plus _bucket, _sum and _count; a summary's, _sum and _count.
    const exists = (name: string) => {
      if (served.has(name)) return served.get(name) !== 'histogram';
      const base = /^(.+)_(bucket|sum|count)$/.exec(name);
      const type = base && served.get(base[1]!);
      return type === 'histogram' || (type === 'summary' && base?.[2] !== 'bucket');
    };
    expect(queries.length).toBeGreaterThan(10);
    for (const { panel, expr } of queries) {
      const names = metricNames(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(exists(name), `${panel}: ${name} in ${expr}`).toBe(true);
    }
  });
});

describe('ops/prometheus.yml', () => {
  it('scrapes /metrics of the gateway and the worker processes', () => {
    const config = parse(read('ops/prometheus.yml')) as {
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const jobs = new Map(config.scrape_configs.map((c) => [c.job_name, c]));
    for (const role of ['gateway', 'worker']) {
      const job = jobs.get(role);
      expect(job?.metrics_path ?? '/metrics', role).toBe('/metrics');
      expect(job?.static_configs.flatMap((s) => s.targets).length, role).toBeGreaterThan(0);
    }
  });
});

describe('docker-compose.yml', () => {
  interface Service {
    build?: string;
    image?: string;
    command?: string[];
    environment?: Record<string, string>;
    depends_on?: Record<string, { condition: string }>;
    restart?: string;
  }
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };

  it('runs Postgres, Redis, NATS with JetStream and the app', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'redis', 'nats', 'app', 'seed']));
    expect(compose.services['nats']?.command).toContain('-js');
  });

  it('seeds the demo data once the app is healthy, with a script the image builds, on the app’s database', () => {
    const { app, seed } = compose.services;
    expect(seed?.command).toEqual(['node', 'dist/scripts/seed-demo.js']);
    expect(existsSync(new URL('../scripts/seed-demo.ts', import.meta.url))).toBe(true); // compiled into dist/ by npm run build
    expect(seed?.image).toBe(app?.image);
    expect(seed?.depends_on?.['app']?.condition).toBe('service_healthy');
    expect(seed?.restart).toBe('no');
    for (const name of ['NODE_ENV', 'DATABASE_URL', 'REDIS_URL', 'NATS_URL', 'ADMIN_EMAILS']) {
      expect(seed?.environment?.[name], name).toBe(app?.environment?.[name]);
    }
    // A default admin e-mail on the app would make whoever signs up with it first an admin.
    expect(app?.environment?.['ADMIN_EMAILS']).toBe('${ADMIN_EMAILS:-}');
  });

  it('is described in the README, seed included', () => {
    const section = /## Docker Compose\n([\s\S]*?)\n## /.exec(read('README.md'))?.[1] ?? '';
    expect(section).toMatch(/seed/);
    expect(section).toMatch(/admin@example\.com/);
  });
});
