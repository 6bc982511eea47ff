import { beforeEach } from 'vitest';
import { testLogTails } from './test-logs.js';

/** Setup file of every test file: a failed test is followed by the logs of the file's test systems. */
beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    for (const tail of testLogTails()) console.error(tail);
  });
});
