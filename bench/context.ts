import type pg from 'pg';
import type { StockGate } from '../src/infra/stock-gate.js';
import type { AccessTokens } from '../src/services/auth/access-tokens.js';
import type { ProcSampler } from './processes.js';
import type { Progress } from './progress.js';
import type { SystemUnderTest } from './system.js';

/** What every phase of a run reads: the flags, the system under test and the connections to it. */

export interface BenchParams {
  tickets: number;
  users: number;
  gateways: number;
  workers: number;
  arrival: 'both' | 'burst' | 'ramp';
  rampRate: number;
  durationS: number;
  concurrency: number;
  readers: number;
  /**
   * How readers load the event page: `get`, the persisted EventPage document over GET (what an
   * edge cache can keep), `edge`, that GET through an nginx micro-cache in front of the gateways, or
   * `post`, event(id) as a POST body.
   */
  readerReads: 'get' | 'post' | 'edge';
  /**
   * Most graphql-ws buyer sockets (one per buyer, signed in as that buyer): past it the share
   * --ws-share would give books over HTTP. One load generator has about 28,000 ports towards one
   * gateway port and 20,000 file descriptors; a million buyers' sockets come from a million devices.
   */
  wsSockets: number;
  /** HTTP connections the burst's HTTP buyers share (each carries one attempt at a time). */
  burstConnections: number;
  /** HTTP connections of the ramp's open loop (opened before it starts). */
  rampConnections: number;
  /** Whether to run the closed-loop sold-out and read phases. */
  throughput: boolean;
  /** Whether the read phases include the event page over GET, direct and through nginx (edge-reads.ts). */
  edge: boolean;
  /** Share of burst buyers on graphql-ws (one socket each); the rest use HTTP. */
  wsShare: number;
  /** Seconds between creating the event and the sale opening (users read the page meanwhile). */
  openDelayS: number;
  /** Polling interval for attempts answered QUEUED over HTTP. */
  pollMs: number;
  /** Give up waiting for decisions after this long. */
  decideTimeoutS: number;
  warmupS: number;
  /** `--heap-profile DIR`: the gateways' heap over the burst (bench/burst-heap.ts) is written here. */
  heapProfileDir: string | undefined;
}

export interface Ctx {
  sut: SystemUnderTest;
  params: BenchParams;
  db: pg.Pool;
  /** The system's stock gate (its namespace), read by the invariant checks. */
  gate: StockGate;
  tokens: AccessTokens;
  progress: Progress;
  sampler: ProcSampler;
  adminAuth: string;
}
