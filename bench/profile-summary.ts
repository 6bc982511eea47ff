/**
 * Where a process spent its CPU, from a V8 profile written by `npm run bench -- --cpu-prof DIR`:
 *
 *   node dist/bench/profile-summary.js DIR/gateway-1.cpuprofile [top=25]
 *
 * Prints self time by package (node_modules/<pkg>, the app's own dist/src/<dir>, node internals,
 * GC, idle) and the top functions by self time. Idle time is shown but left out of the shares.
 */
import { readFileSync } from 'node:fs';
import { fmtPct, table } from './stats.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The bucket a frame's time is counted under. */
function bucketOf(url: string, functionName: string): string {
  if (functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)') {
    return functionName;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const app = /\/dist\/(src\/[^/]+|bench|scripts)/.exec(url);
  if (app) return app[1]!;
  if (url.startsWith('node:')) return 'node internals';
  return url ? 'other' : '(native)';
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node dist/bench/profile-summary.js <file.cpuprofile> [top]');
    process.exit(2);
  }
  const top = Number(topArg ?? 25);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const buckets = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const bucket = bucketOf(url, functionName);
    if (bucket === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + us);
    const where = url ? `${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
  }
  const rows = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => [k, `${(us / 1000).toFixed(0)} ms`, fmtPct(us / busy)]);
  console.log(`${file}: ${(busy / 1e6).toFixed(1)} s busy, ${(idle / 1e6).toFixed(1)} s idle\n`);
  console.log(table([['self time by package', 'ms', 'share'], ...rows(buckets, 30)]));
  console.log('');
  console.log(table([['top functions (self time)', 'ms', 'share'], ...rows(functions, top)]));
}

main();
