import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseFlags } from './flags.js';

/** A flag error exits with status 2 before anything starts: seen here as a thrown exit. */
function exitStatusOf(args: string[]): number | undefined {
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
  vi.spyOn(process, 'exit').mockImplementation((code) => {
    throw new Error(`exit ${String(code)}`);
  });
  try {
    parseFlags(args);
    return undefined;
  } catch (err) {
    return Number(/exit (\d+)/.exec(String(err))?.[1]);
  }
}

describe('benchmark flags: --cluster and --scale', () => {
  afterEach(() => vi.restoreAllMocks());

  it('runs n gateways and n workers per size of --scale, in the order given', () => {
    const flags = parseFlags(['--cluster', '--scale', '1,2,4']);
    expect(flags.cluster).toBe(true);
    expect(flags.sizes).toEqual([
      { gateways: 1, workers: 1 },
      { gateways: 2, workers: 2 },
      { gateways: 4, workers: 4 },
    ]);
  });

  it('without --scale runs the one size of --gateways and --workers', () => {
    expect(parseFlags(['--cluster', '--gateways', '3', '--workers', '2']).sizes).toEqual([{ gateways: 3, workers: 2 }]);
    expect(parseFlags([]).cluster).toBe(false);
  });

  it('refuses what it cannot honour, with status 2', () => {
    expect(exitStatusOf(['--scale', '1,2'])).toBe(2); // --scale without --cluster
    expect(exitStatusOf(['--cluster', '--scale', '1,0'])).toBe(2);
    expect(exitStatusOf(['--cluster', '--scale', '1,x'])).toBe(2);
    expect(exitStatusOf(['--cluster', '--scale', '2', '--gateways', '2'])).toBe(2);
    expect(exitStatusOf(['--cluster', '--url', 'http://127.0.0.1:4000'])).toBe(2);
    expect(exitStatusOf(['--cluster', '--waiting-room'])).toBe(2);
    expect(exitStatusOf(['--cluster', '--scale', '1,2'])).toBeUndefined();
  });
});

describe('benchmark flags: --heap-profile', () => {
  afterEach(() => vi.restoreAllMocks());

  it('takes a directory for the gateways it starts, and is refused against a running system', () => {
    expect(parseFlags(['--heap-profile', 'heap']).params.heapProfileDir).toMatch(/\/heap$/);
    expect(parseFlags([]).params.heapProfileDir).toBeUndefined();
    expect(exitStatusOf(['--heap-profile', 'heap', '--url', 'http://127.0.0.1:4000'])).toBe(2);
  });
});
