import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { AccessTokens } from '../src/services/auth/access-tokens.js';
import { Inspector, liveBytesBySite, snapshotSummary } from './inspector.js';
import { GqlSocket, HttpClient, forEachLimit, jsonHeaders } from './load.js';
import { STOCK, bookPayload, eventPayload, wsUrl } from './operations.js';
import { freePort } from './processes.js';
import { Progress } from './progress.js';
import { createEvent, createUsers } from './seed.js';
import { BENCH_TOKEN_TTL_SECONDS, startSystem } from './system.js';
import { parsePrometheus } from './stats.js';

/**
 * The gateway's memory with many open sockets, and after they close (issue 17):
 *
 *   npm run build && npm exec -- node dist/bench/socket-memory.js [--sockets 10000] [--http 1000]
 *     [--book-share 0.2] [--snapshot gw.heapsnapshot] [--heap-profile gw.heapprofile] [--main other/dist/src/main.js]
 *     [--env K=V]…
 *
 * Starts one gateway (with its inspector on) and one worker on a fresh database and namespace,
 * then: (1) reads the gateway's RSS and heap from /metrics after a forced GC; (2) opens `--sockets`
 * graphql-ws sockets, one signed-in user each, every one subscribed to stockChanged of one event,
 * then `--book-share` of them booking a ticket over the socket at once, plus `--http` keep-alive HTTP
 * connections reading the event page; reads again as the load leaves it and after a GC, and
 * takes the heap profile (live allocations by site, sampled from before the sockets opened) and,
 * with --snapshot, a heap snapshot; (3) closes everything, waits for the gateway to count 0 open
 * sockets, forces a GC and reads a third time. The table goes to stdout, progress to stderr.
 */

const { values } = parseArgs({
  options: {
    sockets: { type: 'string' },
    http: { type: 'string' },
    'book-share': { type: 'string' },
    snapshot: { type: 'string' },
    'heap-profile': { type: 'string' },
    json: { type: 'string' },
    /** Another checkout's built entry point (e.g. /work/main/dist/src/main.js), to measure that build. */
    main: { type: 'string' },
    env: { type: 'string', multiple: true },
  },
  strict: true,
});
const socketCount = Number(values.sockets ?? 10_000);
const httpCount = Number(values.http ?? 1000);
const bookShare = Number(values['book-share'] ?? 0.2);
const env: Record<string, string> = {};
for (const kv of values.env ?? []) {
  const eq = kv.indexOf('=');
  if (eq < 1) throw new Error(`--env: expected KEY=VALUE, got ${kv}`);
  env[kv.slice(0, eq)] = kv.slice(eq + 1);
}

interface Reading {
  rssMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  socketsOpen: number;
  operationsOpen: number;
}

const MB = 1024 * 1024;

async function readMemory(metricsUrl: string): Promise<Reading> {
  const samples = parsePrometheus(await (await fetch(metricsUrl)).text());
  const sum = (name: string, labels: Record<string, string> = {}) =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((a, s) => a + s.value, 0);
  return {
    rssMb: sum('process_resident_memory_bytes') / MB,
    heapUsedMb: sum('nodejs_heap_size_used_bytes') / MB,
    heapTotalMb: sum('nodejs_heap_size_total_bytes') / MB,
    externalMb: sum('nodejs_external_memory_bytes') / MB,
    socketsOpen: sum('ws_sockets_open'),
    operationsOpen: sum('ws_operations_open'),
  };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const progress = new Progress();
  const inspectPort = await freePort();
  progress.log('starting 1 gateway (inspector on) and 1 worker…');
  const sut = await startSystem({
    gateways: 1,
    workers: 1,
    waitMs: 2000,
    // One socket per user, so the per-user cap stays as it is; the per-address one is raised by startSystem.
    env,
    databaseUrl: config.databaseUrl,
    redisUrl: config.redisUrl,
    natsUrl: config.natsUrl,
    gatewayNodeArgs: [`--inspect=127.0.0.1:${inspectPort}`],
    ...(values.main ? { main: resolve(values.main) } : {}),
    log: (m) => progress.log(m),
  });
  const origin = sut.gatewayOrigins[0]!;
  const metricsUrl = `${origin}/metrics`;
  const db = new pg.Pool({ connectionString: sut.databaseUrl, max: 4 });
  let inspector: Inspector | undefined;
  const sockets: GqlSocket[] = [];
  let http: HttpClient | undefined;
  try {
    inspector = await Inspector.connect(`http://127.0.0.1:${inspectPort}`);
    const tokens = new AccessTokens(sut.jwtSecret, BENCH_TOKEN_TTL_SECONDS);
    const seedCtx = { db, tokens, progress };
    progress.start('admin user');
    const admin = await createUsers(seedCtx, 1, 'ADMIN');
    progress.done('token minted');
    const setup = new HttpClient(origin, 1);
    const eventId = await createEvent({ adminAuth: admin.auth[0]! }, setup, {
      title: 'Socket memory',
      tickets: socketCount,
      saleStartsAt: new Date(Date.now() - 1000),
    });
    await setup.close();
    progress.start(`${socketCount} buyers`);
    const users = await createUsers(seedCtx, socketCount);
    progress.done('inserted and signed');

    // Warm the paths once (compiled operations, caches) so the baseline is a served gateway, not a cold one.
    const warm = await GqlSocket.open(wsUrl(origin), users.auth[0]);
    await warm.request(bookPayload(eventId)('warm-up'));
    warm.close();
    await sleep(500);
    await inspector.collectGarbage();
    const before = await readMemory(metricsUrl);
    progress.log(`before: RSS ${before.rssMb.toFixed(0)} MB, heap used ${before.heapUsedMb.toFixed(0)} MB`);
    await inspector.startSampling();

    progress.start(`${socketCount} graphql-ws sockets`);
    const subscribePayload = `{"query":${JSON.stringify(STOCK)},"variables":{"e":"${eventId}"}}`;
    const book = bookPayload(eventId);
    let firstCounts = 0;
    let booked = 0;
    let bookErrors = 0;
    const firstCount = Promise.withResolvers<void>();
    await forEachLimit(
      Array.from({ length: socketCount }, (_, i) => i),
      50,
      async (i) => {
        const socket = await GqlSocket.open(wsUrl(origin), users.auth[i]);
        sockets[i] = socket;
        let seen = false;
        socket.subscribe(subscribePayload, () => {
          if (seen) return;
          seen = true;
          if (++firstCounts === socketCount) firstCount.resolve();
        });
        if (i % 500 === 0) progress.update(i / socketCount, `${i} open`);
      },
    );
    await Promise.race([
      firstCount.promise,
      sleep(60_000).then(() => {
        throw new Error(`only ${firstCounts}/${socketCount} subscriptions got their first count`);
      }),
    ]);
    progress.done(`${socketCount} subscribed`);
    // The burst, once every reader is in (as at a sale's opening): each booking moves the count
    // that all sockets are subscribed to.
    progress.start(`bookings over graphql-ws (${Math.round(bookShare * 100)}% of the sockets)`);
    const bookers = sockets.filter((_, i) => i % Math.round(1 / bookShare) === 0);
    await forEachLimit(bookers, 200, async (socket, i) => {
      const answer = await socket.request(book(`mem-${i}`));
      if (answer.errors?.length) bookErrors += 1;
      else booked += 1;
    });
    progress.done(`${booked} booked, ${bookErrors} booking errors`);

    progress.start(`${httpCount} keep-alive HTTP connections`);
    http = new HttpClient(origin, httpCount);
    await http.warm();
    const page = eventPayload(eventId);
    await forEachLimit(
      Array.from({ length: httpCount }, (_, i) => i),
      httpCount,
      async () => {
        const a = await http!.graphql(page, jsonHeaders());
        if (a.status !== 200) throw new Error(`event page: HTTP ${a.status}`);
      },
    );
    progress.done('each read the event page');

    const open = await readMemory(metricsUrl);
    await inspector.collectGarbage();
    const openAfterGc = await readMemory(metricsUrl);
    const profile = await inspector.stopSampling();
    if (values['heap-profile']) writeFileSync(resolve(values['heap-profile']), JSON.stringify(profile));
    let snapshotTop: ReturnType<typeof snapshotSummary> = [];
    if (values.snapshot) {
      progress.log('taking a heap snapshot…');
      const path = resolve(values.snapshot);
      await inspector.heapSnapshot(path);
      snapshotTop = snapshotSummary(readFileSync(path, 'utf8')).slice(0, 25);
    }

    progress.start('closing');
    for (const s of sockets) s.close();
    await http.close();
    http = undefined;
    const deadline = Date.now() + 60_000;
    while ((await readMemory(metricsUrl)).socketsOpen > 0 && Date.now() < deadline) await sleep(250);
    progress.done('the gateway counts 0 open sockets');
    await sleep(2000);
    await inspector.collectGarbage();
    await sleep(1000);
    const after = await readMemory(metricsUrl);

    const sites = liveBytesBySite(profile).slice(0, 25);
    const row = (label: string, r: Reading) =>
      `${label.padEnd(34)} ${r.rssMb.toFixed(0).padStart(6)} ${r.heapUsedMb.toFixed(0).padStart(9)} ${r.heapTotalMb
        .toFixed(0)
        .padStart(10)} ${r.externalMb.toFixed(0).padStart(9)} ${String(r.socketsOpen).padStart(8)}`;
    const lines = [
      `gateway memory, ${socketCount} graphql-ws sockets (stockChanged each, ${booked} booked) + ${httpCount} HTTP keep-alive`,
      `${''.padEnd(34)} ${'RSS MB'.padStart(6)} ${'heap used'.padStart(9)} ${'heap total'.padStart(10)} ${'external'.padStart(9)} ${'sockets'.padStart(8)}`,
      row('start (after GC)', before),
      row('sockets open (as the load left it)', open),
      row('sockets open (after GC)', openAfterGc),
      row('all closed (after GC)', after),
      `per socket (open after GC - start): RSS ${(((openAfterGc.rssMb - before.rssMb) * MB) / socketCount / 1024).toFixed(1)} KB, heap ${(((openAfterGc.heapUsedMb - before.heapUsedMb) * MB) / socketCount / 1024).toFixed(1)} KB`,
      '',
      'live heap by allocating site (sampling heap profile, sockets open, after GC):',
      ...sites.map((s) => `${(s.bytes / MB).toFixed(1).padStart(8)} MB  ${s.site}`),
      ...(snapshotTop.length
        ? [
            '',
            'heap snapshot, shallow size by constructor:',
            ...snapshotTop.map(
              (s) => `${(s.bytes / MB).toFixed(1).padStart(8)} MB ${String(s.count).padStart(9)}  ${s.name}`,
            ),
          ]
        : []),
    ];
    console.log(lines.join('\n'));
    if (values.json) {
      writeFileSync(
        values.json,
        `${JSON.stringify({ socketCount, httpCount, booked, before, open, openAfterGc, after, sites, snapshotTop }, null, 2)}\n`,
      );
    }
  } finally {
    for (const s of sockets) s?.close();
    await http?.close();
    inspector?.close();
    await db.end().catch(() => undefined);
    progress.log('cleaning up (processes, streams, keys, database)…');
    await sut.stop();
  }
}

await main();
