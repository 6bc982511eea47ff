import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddress } from './client-address.js';

function request(peer: string, forwardedFor?: string): IncomingMessage {
  return {
    socket: { remoteAddress: peer },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  } as unknown as IncomingMessage;
}

describe('clientAddress', () => {
  it('is the socket peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddress(request('::ffff:10.0.0.7', '1.2.3.4'), new Set())).toBe('10.0.0.7');
  });

  it('is the right-most untrusted hop of X-Forwarded-For behind a trusted proxy', () => {
    const proxies = new Set(['10.0.0.1']);
    expect(clientAddress(request('10.0.0.1', 'spoofed, 203.0.113.9'), proxies)).toBe('203.0.113.9');
    expect(clientAddress(request('10.0.0.1', '203.0.113.9, 10.0.0.1'), proxies)).toBe('203.0.113.9');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(clientAddress(request('198.51.100.2', '203.0.113.9'), new Set(['10.0.0.1']))).toBe('198.51.100.2');
  });
});
