import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * HAProxy (this machine's binary) on 127.0.0.1:`port` in front of the gateways: HTTP and the
 * graphql-ws upgrade, round robin, /readyz health checks. Config and log under `dir`. Returns its stop.
 */
export function startHaproxy(
  dir: string,
  port: number,
  gateways: { name: string; port: number }[],
): () => Promise<void> {
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      // Every buyer of a benchmark burst holds a connection, and HAProxy one more to a gateway: two
      // descriptors each, so 9,000 is what a 20,000-descriptor limit (this machine's hard limit)
      // allows; HAProxy refuses to start when it cannot raise its limit to 2 × maxconn. Past it,
      // connections wait in HAProxy's queue (a full-size benchmark's 10,000 graphql-ws buyers
      // timed out there: run it with --ws-sockets 5000).
      '  maxconn 9000',
      'defaults',
      '  mode http',
      '  maxconn 9000',
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      '  timeout tunnel 1h',
      // A health check's answer may wait for its dependency probes on a loaded gateway; left at the
      // default (inter, 1 s) an overloaded ramp had every gateway marked down and answered 503.
      '  timeout check 5s',
      '  option forwardfor',
      'frontend api',
      `  bind 127.0.0.1:${port}`,
      '  default_backend gateways',
      'backend gateways',
      '  balance roundrobin',
      '  option httpchk GET /readyz',
      ...gateways.map((g) => `  server ${g.name} 127.0.0.1:${g.port} check inter 1s`),
      '',
    ].join('\n'),
  );
  const fd = openSync(join(dir, 'haproxy.log'), 'a');
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
}
