import { cpus, totalmem } from 'node:os';
import type { Baselines } from './baselines.js';
import type { Flags } from './flags.js';
import type { RunResult } from './scenario.js';
import { costByScale, fmtMs, fmtPct, fmtRate, fmtRatio, group, ratio, round, table } from './stats.js';
import type { SystemUnderTest } from './system.js';
import type { PhaseCpu } from './timeline.js';

/** The benchmark's report: the JSON of --json (buildReport) and the table on stdout (renderTable). */

/** The machine the benchmark ran on (load generator and system share it). */
const READER_READS = { get: 'persisted GET', post: 'POST', edge: 'persisted GET through nginx' } as const;

export function machine() {
  const list = cpus();
  return { cores: list.length, model: list[0]?.model.trim() ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30) };
}

export function buildReport(flags: Flags, sut: SystemUnderTest, baselines: Baselines, runs: RunResult[]) {
  // flags.runs >= 1, so there is a last run.
  const last = runs[runs.length - 1]!;
  const burst = last.burst;
  const ramp = last.ramp;
  const bareRps = baselines.bare?.rps ?? NaN;
  const naiveTps = baselines.naive?.tps ?? NaN;
  const appRss = (r: Record<string, number>) => Math.max(0, ...sut.appProcessNames.map((n) => r[n] ?? 0));
  const cpuOf = (phases: PhaseCpu[]) =>
    Object.fromEntries(
      phases.map((ph) => [
        ph.phase,
        {
          ...Object.fromEntries(ph.cpu.map((c) => [c.name, round(c.cores, 2)])),
          'machine busy': round(ph.machineCores, 2),
        },
      ]),
    );
  const invariants = [burst?.invariants, ramp?.invariants].filter((x) => x !== undefined);
  const edge = last.edge && 'edge' in last.edge ? last.edge : undefined;
  const withBurst = runs.filter((r) => r.burst !== undefined);
  const cost = costByScale(withBurst.map((r) => ({ users: r.users, costPerAttemptUs: r.burst!.costPerAttemptUs })));
  return {
    params: {
      ...flags.params,
      users: last.users,
      scales: flags.scales,
      runs: flags.runs,
      waitMs: flags.waitMs,
      env: flags.env,
      url: flags.url ?? null,
      quick: flags.quick,
    },
    machine: { ...machine(), node: process.version, note: 'load generator and system share these cores' },
    system: sut.description,
    selloutMs: round(burst?.selloutMs ?? NaN, 0),
    clientSelloutMs: round(burst?.clientSelloutMs ?? NaN, 0),
    oversold: burst ? burst.invariants.oversold : null,
    attemptsPerSec: round(burst?.attemptsPerSec ?? NaN, 0),
    decisionsPerSec: round(burst?.decisionsPerSec ?? NaN, 0),
    bookTicketP50Ms: round(burst?.bookTicket.p50 ?? NaN, 2),
    bookTicketP95Ms: round(burst?.bookTicket.p95 ?? NaN, 2),
    bookTicketP99Ms: round(burst?.bookTicket.p99 ?? NaN, 2),
    decisionP50Ms: round(burst?.decision.p50 ?? NaN, 2),
    decisionP95Ms: round(burst?.decision.p95 ?? NaN, 2),
    decisionP99Ms: round(burst?.decision.p99 ?? NaN, 2),
    decisionCommitP50Ms: round(burst?.committedDecision.p50 ?? NaN, 2),
    decisionCommitP95Ms: round(burst?.committedDecision.p95 ?? NaN, 2),
    decisionCommitP99Ms: round(burst?.committedDecision.p99 ?? NaN, 2),
    admittedToDecisionP50Ms: round(burst?.admittedDecision.p50 ?? NaN, 2),
    admittedToDecisionP99Ms: round(burst?.admittedDecision.p99 ?? NaN, 2),
    rejectedAtGatewayShare: round(burst?.rejectedAtGatewayShare ?? NaN, 4),
    // The readers' event page during the burst (first attempt → last decision), --reader-reads.
    burstReadP99Ms: round(burst?.readsDuringSale.p99Ms ?? NaN, 2),
    burstReadErrors: burst ? burst.readsDuringSale.errors : null,
    // Largest gateway RSS: after the burst with the buyers' sockets open, before they opened, once they closed.
    gatewayRssAfterMb: round(burst?.gatewayRssMb.after ?? NaN, 1),
    gatewayRssBeforeMb: round(burst?.gatewayRssMb.before ?? NaN, 1),
    gatewayRssClosedMb: round(burst?.gatewayRssMb.closed ?? NaN, 1),
    // Gateway + worker CPU µs per burst attempt, by buyers (one key per scale of --users), and ÷ the first scale's.
    costPerAttemptUs: cost.costPerAttemptUs,
    costPerAttemptVsFirstScale: cost.vsFirst,
    // The burst at each scale (the last run of each), for the cost and decision latency side by side.
    scales: withBurst
      .filter((r, i) => withBurst.findLastIndex((x) => x.users === r.users) === i)
      .map((r) => ({
        users: r.users,
        wsAttempts: r.burst!.wsAttempts,
        costPerAttemptUs: round(r.burst!.costPerAttemptUs, 1),
        decisionP50Ms: round(r.burst!.decision.p50, 2),
        decisionP99Ms: round(r.burst!.decision.p99, 2),
        decisionCommitP99Ms: round(r.burst!.committedDecision.p99, 2),
        attemptsPerSec: round(r.burst!.attemptsPerSec, 0),
        selloutMs: round(r.burst!.selloutMs, 0),
        burstReadP99Ms: round(r.burst!.readsDuringSale.p99Ms, 2),
        burstReadErrors: r.burst!.readsDuringSale.errors,
        gatewayRssAfterMb: round(r.burst!.gatewayRssMb.after, 1),
      })),
    rampDecisionP50Ms: round(ramp?.decision.p50 ?? NaN, 2),
    rampDecisionP99Ms: round(ramp?.decision.p99 ?? NaN, 2),
    rampDecisionCommitP99Ms: round(ramp?.committedDecision.p99 ?? NaN, 2),
    rampBookTicketP99Ms: round(ramp?.bookTicket.p99 ?? NaN, 2),
    bareRps: round(bareRps, 0),
    soldOutRps: round(last.soldOut?.rps ?? NaN, 0),
    soldOutP99Ms: round(last.soldOut?.p99Ms ?? NaN, 2),
    readRps: round(last.read?.rps ?? NaN, 0),
    readP99Ms: round(last.read?.p99Ms ?? NaN, 2),
    // The event page as a persisted GET: through the nginx micro-cache, and straight to the gateways.
    edgeReadRps: round(edge?.edge.rps ?? NaN, 0),
    edgeReadP50Ms: round(edge?.edge.p50Ms ?? NaN, 2),
    edgeReadP99Ms: round(edge?.edge.p99Ms ?? NaN, 2),
    edgeDirectReadRps: round(edge?.direct.rps ?? NaN, 0),
    edgeDirectReadP50Ms: round(edge?.direct.p50Ms ?? NaN, 2),
    edgeDirectReadP99Ms: round(edge?.direct.p99Ms ?? NaN, 2),
    edgeOriginRps: round(edge?.originRps ?? NaN, 1),
    edgeSkipped: last.edge && 'skipped' in last.edge ? last.edge.skipped : null,
    naiveTps: round(naiveTps, 0),
    luaRps: round(baselines.lua?.attemptsPerSec ?? NaN, 0),
    ratios: {
      soldOutVsBare: round(ratio(last.soldOut?.rps ?? NaN, bareRps), 3),
      readVsBare: round(ratio(last.read?.rps ?? NaN, bareRps), 3),
      edgeVsDirect: round(ratio(edge?.edge.rps ?? NaN, edge?.direct.rps ?? NaN), 2),
      attemptsVsBare: round(ratio(burst?.attemptsPerSec ?? NaN, bareRps), 3),
      decisionsVsNaive: round(ratio(burst?.decisionsPerSec ?? NaN, naiveTps), 2),
      soldOutVsNaive: round(ratio(last.soldOut?.rps ?? NaN, naiveTps), 2),
    },
    invariantsOk: invariants.every((i) => i.ok),
    rssMb: round(Math.max(...runs.map((r) => appRss(r.rssPeakMb))), 1),
    rssPeakMbByProcess: last.rssPeakMb,
    rssAfterRunMb: runs.map((r) =>
      Object.fromEntries(sut.appProcessNames.map((n) => [n, round(r.rssAfterMb[n] ?? NaN, 1)])),
    ),
    cpu: { ...cpuOf(baselines.cpu), ...cpuOf(runs.flatMap((r) => r.cpu)) },
    baselines: {
      bare: baselines.bare ?? null,
      bareRuns: baselines.bareRuns,
      naive: baselines.naive ?? null,
      lua: baselines.lua ?? null,
    },
    runs,
  };
}

export type Report = ReturnType<typeof buildReport>;

export function renderTable(
  flags: Flags,
  sut: SystemUnderTest,
  baselines: Baselines,
  runs: RunResult[],
  report: Report,
): string {
  // flags.runs >= 1, so there is a last run.
  const last = runs[runs.length - 1]!;
  const p = { ...flags.params, users: last.users };
  const { burst, ramp, soldOut, read } = last;
  const m = machine();
  const lines: string[] = [];
  lines.push(
    `Flash-sale benchmark: ${group(p.tickets)} tickets, ${group(p.users)} buyers (HTTP over ≤${group(p.burstConnections)} connections, ${fmtPct(p.wsShare)} on graphql-ws up to ${group(p.wsSockets)} sockets), ${p.readers} readers (${READER_READS[p.readerReads]})`,
  );
  if (flags.scales.length > 1)
    lines.push(`Scales: ${flags.scales.map(group).join(', ')} buyers (figures from the last; the burst at each below)`);
  lines.push(`System: ${sut.description}; Postgres, Redis, NATS on the same host`);
  lines.push(
    `Machine: ${m.cores} cores (${m.model}), ${m.memoryGb} GB. The load generator runs on the same cores: every figure below shares them.`,
  );
  if (flags.runs > 1) lines.push(`Runs: ${flags.runs} (figures from the last; RSS after each run below)`);
  lines.push('');

  const ms3 = (s: { p50: number; p95: number; p99: number }) => `${fmtMs(s.p50)} / ${fmtMs(s.p95)} / ${fmtMs(s.p99)}`;
  const rows: string[][] = [['measure', 'value', 'target / note']];
  if (burst) {
    const inv = burst.invariants;
    rows.push(
      ['BURST (all buyers at once)', '', ''],
      [
        '  time to sell out (1st attempt → last RESERVED in Postgres)',
        fmtMs(burst.selloutMs),
        '< 10 s (stretch < 5 s)',
      ],
      ['  … as clients learned it (last RESERVED answer)', fmtMs(burst.clientSelloutMs), ''],
      ['  … readers saw 0 tickets on stockChanged (p50)', fmtMs(burst.soldOutSeenByReadersP50Ms), ''],
      [
        '  booking attempts/s (all sent in)',
        fmtRate(burst.attemptsPerSec),
        `${group(burst.attempts)} attempts in ${fmtMs(burst.attemptWindowMs)}`,
      ],
      ['  decisions/s (1st attempt → last decision)', fmtRate(burst.decisionsPerSec), ''],
      ['  bookTicket latency p50 / p95 / p99', ms3(burst.bookTicket), 'send → answer (decision or QUEUED)'],
      [
        '  attempt → decision p50 / p95 / p99 (client)',
        ms3(burst.decision),
        `QUEUED followed by bookingUpdated (ws) / booking(id) every ${p.pollMs} ms (HTTP)`,
      ],
      [
        '  attempt → decision p50 / p95 / p99 (Postgres)',
        ms3(burst.committedDecision),
        'sent → bookings.decided_at (gateway rejections: their answer)',
      ],
      [
        '  gateway began the call → decision p50 / p95 / p99',
        ms3(burst.admittedDecision),
        'bookings.requested_at → decided_at (worker side)',
      ],
      ['  answered QUEUED', group(burst.queuedAnswers), `BOOKING_WAIT_MS=${flags.waitMs}`],
      [
        '  rejected at the gateway without I/O',
        fmtPct(burst.rejectedAtGatewayShare),
        `${group(burst.rejectedAtGateway)} gateway, ${group(burst.decidedByWorkers)} by workers`,
      ],
      [
        '  outcomes',
        `${group(inv.clientReserved)} reserved`,
        Object.entries(burst.reasons)
          .map(([k, v]) => `${k} ${group(v)}`)
          .join(', '),
      ],
      [
        '  errors (retried) / undecided',
        `${group(burst.errors)} / ${group(burst.undecided)}`,
        burst.firstError ? `first: ${burst.firstError.slice(0, 70)}` : '',
      ],
      [
        '  event page reads during the sale',
        fmtRate(burst.readsDuringSale.perSec),
        `p50 ${fmtMs(burst.readsDuringSale.p50Ms)}, p99 ${fmtMs(burst.readsDuringSale.p99Ms)}, ${burst.readsDuringSale.errors} errors${burst.readsDuringSale.firstError ? ` (first: ${burst.readsDuringSale.firstError.slice(0, 60)})` : ''}`,
      ],
      ['  stockChanged messages per reader', burst.stockMessagesPerReader.toFixed(1), 'coalesced per event'],
      [
        '  gateway + worker CPU per attempt',
        Number.isFinite(burst.costPerAttemptUs) ? `${burst.costPerAttemptUs.toFixed(1)} µs` : '–',
        `${group(burst.wsAttempts)} on graphql-ws, ${group(burst.httpAttempts)} over HTTP`,
      ],
      [
        '  gateway RSS before / after the burst / sockets closed',
        `${Math.round(burst.gatewayRssMb.after)} MB`,
        `${Math.round(burst.gatewayRssMb.before)} / ${Math.round(burst.gatewayRssMb.after)} / ${Math.round(burst.gatewayRssMb.closed)} MB`,
      ],
      ['  INVARIANTS', inv.ok ? 'ok' : 'BROKEN', inv.problems.join('; ')],
      ['    reserved = T', `${group(inv.reserved)} = ${group(inv.total)}`, inv.reserved === inv.total ? 'ok' : 'NO'],
      ['    oversold', group(inv.oversold), 'must be 0'],
      [
        '    Postgres stock / Redis stock',
        `${inv.pgAvailable} / ${inv.redisStock ?? 'none'}`,
        `in flight in Redis: ${inv.redisInflight}`,
      ],
    );
  }
  if (ramp) {
    rows.push(
      [`RAMP (${group(ramp.rate)} attempts/s open loop, ${group(ramp.attempts)} attempts, never sells out)`, '', ''],
      ['  attempt → decision p50 / p95 / p99 (client)', ms3(ramp.decision), 'p99 < 250 ms'],
      ['  attempt → decision p50 / p95 / p99 (Postgres)', ms3(ramp.committedDecision), 'sent → bookings.decided_at'],
      [
        '  gateway began the call → decision p50 / p95 / p99',
        ms3(ramp.admittedDecision),
        'bookings.requested_at → decided_at',
      ],
      [
        '  bookTicket latency p50 / p95 / p99',
        ms3(ramp.bookTicket),
        `from scheduled time; max schedule lag ${fmtMs(ramp.maxLagMs)}`,
      ],
      [
        '  answered QUEUED / errors / undecided',
        `${group(ramp.queuedAnswers)} / ${group(ramp.errors)} / ${group(ramp.undecided)}`,
        ramp.firstError ? `first: ${ramp.firstError.slice(0, 70)}` : '',
      ],
      [
        '  most attempts waiting for a client connection',
        group(ramp.maxClientQueue),
        ramp.maxClientQueue > 0
          ? `all ${group(ramp.connections)} connections busy: the gateway answered slower than attempts arrived`
          : `${group(ramp.connections)} connections sufficed`,
      ],
      [
        '  INVARIANTS',
        ramp.invariants.ok ? 'ok' : 'BROKEN',
        ramp.invariants.problems.join('; ') ||
          `reserved ${group(ramp.invariants.reserved)} + available ${group(ramp.invariants.pgAvailable)} = ${group(ramp.invariants.total)}, Redis = Postgres`,
      ],
    );
  }
  const bare = baselines.bare?.rps ?? NaN;
  const naive = baselines.naive?.tps ?? NaN;
  rows.push([`THROUGHPUT (closed loop, ${p.concurrency} keep-alive connections, ${p.durationS} s)`, '', '']);
  if (soldOut) {
    rows.push(
      [
        '  bookTicket on the sold-out event',
        fmtRate(soldOut.rps),
        `p50 ${fmtMs(soldOut.p50Ms)}, p99 ${fmtMs(soldOut.p99Ms)}, ${soldOut.errors} errors`,
      ],
      ['    ÷ bare node:http', fmtRatio(ratio(soldOut.rps, bare)), '≥ 0.40×'],
    );
  }
  if (read) {
    rows.push(
      [
        '  event(id) reads',
        fmtRate(read.rps),
        `p50 ${fmtMs(read.p50Ms)}, p99 ${fmtMs(read.p99Ms)}, ${read.errors} errors`,
      ],
      ['    ÷ bare node:http', fmtRatio(ratio(read.rps, bare)), '≥ 0.40×'],
    );
  }
  if (last.edge && 'skipped' in last.edge)
    rows.push(['  event page over GET, direct / through nginx', 'skipped', last.edge.skipped]);
  else if (last.edge) {
    const { direct, edge, originRps, nginxCores } = last.edge;
    rows.push(
      [
        '  event page, persisted GET, direct',
        fmtRate(direct.rps),
        `p50 ${fmtMs(direct.p50Ms)}, p99 ${fmtMs(direct.p99Ms)}, ${direct.errors} errors`,
      ],
      [
        '  … through nginx (1 s micro-cache)',
        fmtRate(edge.rps),
        `p50 ${fmtMs(edge.p50Ms)}, p99 ${fmtMs(edge.p99Ms)}, ${edge.errors} errors; nginx ${nginxCores.toFixed(2)} cores`,
      ],
      [
        '    ÷ direct',
        fmtRatio(ratio(edge.rps, direct.rps)),
        `gateways answered ${originRps.toFixed(1)} GETs/s of them`,
      ],
    );
  }
  if (baselines.bare || baselines.naive || baselines.lua) {
    rows.push(['BASELINES (same machine, same run)', '', '']);
    if (baselines.bare) {
      rows.push([
        '  (a) bare node:http, small JSON (best of before/after)',
        fmtRate(bare),
        `p50 ${fmtMs(baselines.bare.p50Ms)}, p99 ${fmtMs(baselines.bare.p99Ms)}; runs: ${baselines.bareRuns.map((r) => `${r.when} ${fmtRate(r.rps)}`).join(', ')}`,
      ]);
    }
    if (baselines.naive) {
      rows.push([
        `  (b) naive: 1 Postgres transaction per attempt`,
        `${fmtRate(naive)}`,
        `${baselines.naive.clients} clients, p50 ${fmtMs(baselines.naive.p50Ms)}, p99 ${fmtMs(baselines.naive.p99Ms)}`,
      ]);
    }
    if (baselines.lua) {
      rows.push([
        '  (c) the Lua gate alone (StockGate.reserve)',
        fmtRate(baselines.lua.attemptsPerSec),
        `batches of ${baselines.lua.batchSize}, ${baselines.lua.inFlight} in flight on one connection`,
      ]);
    }
    if (burst) {
      rows.push(
        ['  burst decisions/s ÷ naive', fmtRatio(ratio(burst.decisionsPerSec, naive)), ''],
        ['  burst attempts/s ÷ bare', fmtRatio(ratio(burst.attemptsPerSec, bare)), ''],
      );
    }
    if (soldOut) rows.push(['  sold-out bookTicket/s ÷ naive', fmtRatio(ratio(soldOut.rps, naive)), '']);
  }
  if (report.scales.length > 1) {
    rows.push(['SCALES (the burst at each number of buyers)', '', '']);
    for (const sc of report.scales) {
      rows.push([
        `  ${group(sc.users)} buyers: CPU per attempt; decision p50 / p99`,
        sc.costPerAttemptUs === null ? '–' : `${sc.costPerAttemptUs} µs`,
        `${fmtRatio(report.costPerAttemptVsFirstScale[sc.users] ?? NaN)} the first; ${fmtMs(sc.decisionP50Ms ?? NaN)} / ${fmtMs(sc.decisionP99Ms ?? NaN)}`,
      ]);
    }
  }
  rows.push(['MEMORY', '', '']);
  rows.push(['  max RSS of a gateway/worker process', report.rssMb === null ? '–' : `${report.rssMb} MB`, '']);
  for (const name of sut.appProcessNames) {
    const after = runs.map((r) => `${Math.round(r.rssAfterMb[name] ?? NaN)}`).join(' → ');
    rows.push([`  ${name} RSS peak / after each run`, `${Math.round(last.rssPeakMb[name] ?? NaN)} MB`, `${after} MB`]);
  }
  lines.push(table(rows));

  // CPU per process and phase, in cores (1.00 = one core busy for the whole phase).
  // Baselines and the last run (every run's phases are in --json).
  const phases = [...baselines.cpu, ...last.cpu];
  if (phases.length) {
    const names = [...new Set(phases.flatMap((ph) => ph.cpu.map((c) => c.name)))];
    const cpuRows: string[][] = [['CPU (cores used)', ...phases.map((ph) => `${ph.phase} ${ph.seconds.toFixed(0)}s`)]];
    for (const name of names) {
      cpuRows.push([name, ...phases.map((ph) => ph.cpu.find((c) => c.name === name)?.cores.toFixed(2) ?? '')]);
    }
    const ours = (ph: PhaseCpu) => ph.cpu.reduce((s, c) => s + (Number.isFinite(c.cores) ? c.cores : 0), 0);
    cpuRows.push(['total of the above', ...phases.map((ph) => ours(ph).toFixed(2))]);
    cpuRows.push(['machine busy (/proc/stat)', ...phases.map((ph) => ph.machineCores.toFixed(2))]);
    cpuRows.push(['other load (not ours)', ...phases.map((ph) => Math.max(0, ph.machineCores - ours(ph)).toFixed(2))]);
    lines.push('', table(cpuRows));
  }
  return lines.join('\n');
}
