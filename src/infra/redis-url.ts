/**
 * REDIS_URL names one server (`redis://[user:pass@]host:port[/db]`, `rediss://` for TLS) or a
 * Redis Cluster (`redis+cluster://[user:pass@]host:port,host:port…`, `rediss+cluster://` for TLS):
 * a few reachable nodes of the cluster are enough, the client learns the rest from them.
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | {
      kind: 'cluster';
      nodes: { host: string; port: number }[];
      username?: string;
      password?: string;
      tls: boolean;
    };

export function parseRedisUrl(value: string): RedisTarget {
  const cluster = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/.exec(value);
  if (!cluster) {
    const protocol = new URL(value).protocol; // throws on a malformed URL
    if (protocol !== 'redis:' && protocol !== 'rediss:') throw new Error(`unsupported protocol ${protocol}`);
    return { kind: 'single', url: value };
  }
  const [, scheme, auth, hostList] = cluster;
  const nodes = hostList!.split(',').map((hostPort) => {
    const m = /^([^:,]+):(\d{1,5})$/.exec(hostPort.trim());
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) throw new Error(`cluster node "${hostPort}" is not host:port`);
    return { host: m[1]!, port };
  });
  const [username, password] = auth ? auth.split(':').map(decodeURIComponent) : [];
  return {
    kind: 'cluster',
    nodes,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    tls: scheme === 'rediss',
  };
}

/** True when the value is a REDIS_URL parseRedisUrl accepts. */
export function isRedisUrl(value: string): boolean {
  try {
    parseRedisUrl(value);
    return true;
  } catch {
    return false;
  }
}
