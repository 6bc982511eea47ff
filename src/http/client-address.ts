import type { IncomingMessage } from 'node:http';

/**
 * The address a request came from, for per-client limits. It is the socket's peer, unless that peer
 * is one of the configured trusted proxies (`TRUSTED_PROXIES`): then the right-most address in
 * `X-Forwarded-For` that is not itself a trusted proxy. A client cannot pick its own address by
 * sending the header: without a trusted proxy in front, the header is ignored.
 */
export function clientAddress(req: IncomingMessage, trustedProxies: ReadonlySet<string>): string {
  const peer = normalize(req.socket.remoteAddress ?? 'unknown');
  if (trustedProxies.size === 0 || !trustedProxies.has(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((h) => normalize(h.trim()))
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i -= 1) {
    const hop = hops[i];
    if (hop !== undefined && !trustedProxies.has(hop)) return hop;
  }
  return peer;
}

/** `::ffff:127.0.0.1` and `127.0.0.1` are one client. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}
