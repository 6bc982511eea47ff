import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';

/**
 * Test systems log to `.data/test-logs/<namespace>.log`, not to the terminal: a passing run prints
 * no log lines. When a test fails, the last lines of the logs of this file's systems follow the
 * failure (see failure-logs.ts).
 */
export const TEST_LOG_DIR = fileURLToPath(new URL('../../.data/test-logs/', import.meta.url));

const destinations = new Map<string, pino.DestinationStream & { flushSync(): void }>();

export function testLogDestination(namespace: string) {
  const path = `${TEST_LOG_DIR}${namespace}.log`;
  let destination = destinations.get(path);
  if (!destination) {
    destination = pino.destination({ dest: path, mkdir: true, sync: false });
    destinations.set(path, destination);
  }
  return destination;
}

/** The last lines of every log this test file wrote, for a failure report. */
export function testLogTails(lines = 40): string[] {
  return [...destinations].map(([path, destination]) => {
    try {
      destination.flushSync();
      const text = readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      return `--- last ${lines} lines of ${path} ---\n${text}`;
    } catch (err) {
      return `--- ${path} could not be read: ${String(err)} ---`;
    }
  });
}
