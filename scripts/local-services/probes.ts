/**
 * Probes that tell whether the right kind of server answers at host:port and can serve the app,
 * each speaking just enough of its protocol (Postgres startup, RESP, NATS INFO/CONNECT).
 */
import { connect, createServer } from 'node:net';

/** What a probe found at host:port. */
export type Health =
  | { state: 'ok' }
  | { state: 'absent' }
  /** It answers but cannot serve the app: `problem` says why, `fix` what the user can do. */
  | { state: 'unusable'; problem: string; fix: string };

/** Whether anything accepts a TCP connection at host:port. */
export function tcpAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/**
 * One short conversation with a server: `greet` writes the opening (if the client speaks first),
 * `hear` reads everything received so far and decides, or returns undefined to wait for more.
 * Nothing listening is `absent`; a server that does not decide in time cannot be the right kind.
 */
function converse(
  host: string,
  port: number,
  kind: string,
  greet: (write: (data: string | Buffer) => void) => void,
  hear: (received: Buffer, write: (data: string | Buffer) => void) => Health | undefined,
  timeoutMs = 3000,
): Promise<Health> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    let received = Buffer.alloc(0);
    let connected = false;
    const write = (data: string | Buffer) => socket.write(data);
    const finish = (health: Health) => {
      socket.destroy();
      done(health);
    };
    const notIt: Health = {
      state: 'unusable',
      problem: `does not answer like a ${kind} server`,
      fix: `Free the port or point the URL at a ${kind} server`,
    };
    socket.setTimeout(timeoutMs, () => finish(connected ? notIt : { state: 'absent' }));
    socket.once('connect', () => {
      connected = true;
      greet(write);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      try {
        const health = hear(received, write);
        if (health) finish(health);
      } catch {
        finish(notIt);
      }
    });
    socket.once('error', () => finish(connected ? notIt : { state: 'absent' }));
    socket.once('close', () => finish(connected ? notIt : { state: 'absent' }));
  });
}

/**
 * Logs in as the URL's user to the maintenance database (the app's own may not exist yet), in the
 * wire protocol (this file has no pg). A password request counts as usable when the URL has one:
 * checking it would need SCRAM here, and the app reports a wrong one clearly.
 */
export function postgresHealth(host: string, port: number, user: string, hasPassword: boolean): Promise<Health> {
  const startup = () => {
    const params = Buffer.from(`user\0${user}\0database\0postgres\0\0`, 'utf8');
    const head = Buffer.alloc(8);
    head.writeInt32BE(8 + params.length, 0);
    head.writeInt32BE(196608, 4); // protocol 3.0
    return Buffer.concat([head, params]);
  };
  const terminate = Buffer.from([0x58, 0, 0, 0, 4]); // 'X'
  const fix = `Let ${user} log in (trust in pg_hba.conf, or a password in DATABASE_URL: postgres://${user}:PASSWORD@${host}:${port}/DB)`;
  return converse(
    host,
    port,
    'Postgres',
    (write) => write(startup()),
    (received, write) => {
      for (let at = 0; at + 5 <= received.length;) {
        const type = String.fromCharCode(received[at]!);
        const end = at + 1 + received.readInt32BE(at + 1);
        if (end > received.length) return undefined;
        if (type === 'R') {
          const method = received.readInt32BE(at + 5);
          if (method === 0 || hasPassword) {
            write(terminate);
            return { state: 'ok' };
          }
          return { state: 'unusable', problem: `asks for ${user}'s password, and DATABASE_URL has none`, fix };
        }
        if (type === 'E') {
          const fields = received
            .subarray(at + 5, end)
            .toString('utf8')
            .split('\0');
          const message = fields.find((f) => f.startsWith('M'))?.slice(1) ?? 'unknown error';
          return { state: 'unusable', problem: `refuses the login as ${user} (${message})`, fix };
        }
        if (type !== 'N') throw new Error('not Postgres');
        at = end;
      }
      return undefined;
    },
  );
}

type Resp = string | number | null | { error: string } | Resp[];

/** One RESP reply at `at`, or undefined if it has not fully arrived. */
function parseResp(buf: Buffer, at: number): { value: Resp; next: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const line = buf.toString('latin1', at + 1, eol);
  switch (String.fromCharCode(buf[at]!)) {
    case '+':
      return { value: line, next: eol + 2 };
    case '-':
      return { value: { error: line }, next: eol + 2 };
    case ':':
      return { value: Number(line), next: eol + 2 };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + length + 2) return undefined;
      return { value: buf.toString('latin1', eol + 2, eol + 2 + length), next: eol + 2 + length + 2 };
    }
    case '*': {
      const items: Resp[] = [];
      let next = eol + 2;
      for (let i = 0; i < Number(line); i++) {
        const item = parseResp(buf, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error('not RESP');
  }
}

const isRespError = (v: Resp | undefined): v is { error: string } =>
  typeof v === 'object' && v !== null && 'error' in v;

/**
 * PING, then the settings that break the stock gate: eviction (its counters and holds would
 * vanish under memory pressure), a read-only replica, and writes refused after a failed save.
 */
export function redisHealth(host: string, port: number, auth: string[]): Promise<Health> {
  const commands = [
    ...(auth.length ? [auth] : []),
    ['PING'],
    ['CONFIG', 'GET', 'maxmemory-policy'],
    ['INFO', 'replication'],
    ['INFO', 'persistence'],
  ];
  const encode = (args: string[]) =>
    `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const where = `${host}:${port}`;
  return converse(
    host,
    port,
    'Redis',
    (write) => write(commands.map(encode).join('')),
    (received) => {
      const replies: Resp[] = [];
      for (let at = 0; replies.length < commands.length;) {
        const reply = parseResp(received, at);
        if (!reply) return undefined;
        replies.push(reply.value);
        at = reply.next;
      }
      if (auth.length && isRespError(replies.shift())) {
        return { state: 'unusable', problem: 'refuses the password in REDIS_URL', fix: 'Correct the password' };
      }
      const [pong, policy, replication, persistence] = replies;
      if (isRespError(pong)) {
        const needsAuth = /NOAUTH/.test(pong.error);
        return {
          state: 'unusable',
          problem: needsAuth ? 'needs a password' : `refuses PING (${pong.error})`,
          fix: needsAuth ? `Put it in REDIS_URL (redis://:PASSWORD@${where})` : 'Fix the server',
        };
      }
      if (pong !== 'PONG') throw new Error('not Redis');
      // CONFIG may be renamed or disabled (managed services): then the policy cannot be seen here.
      const policyValue = Array.isArray(policy) ? policy[1] : undefined;
      if (typeof policyValue === 'string' && policyValue !== 'noeviction') {
        return {
          state: 'unusable',
          problem: `evicts keys under memory pressure (maxmemory-policy ${policyValue}), which would drop the stock gate's counters and holds`,
          fix: `Set maxmemory-policy noeviction (redis-cli -h ${host} -p ${port} CONFIG SET maxmemory-policy noeviction, and in redis.conf)`,
        };
      }
      if (typeof replication === 'string' && /^role:slave\r?$/m.test(replication)) {
        return { state: 'unusable', problem: 'is a read-only replica', fix: 'Point REDIS_URL at the primary' };
      }
      if (
        typeof persistence === 'string' &&
        /^(rdb_last_bgsave_status|aof_last_write_status):err\r?$/m.test(persistence)
      ) {
        return {
          state: 'unusable',
          problem: 'refuses writes because its last save to disk failed (MISCONF)',
          fix: 'Fix the disk Redis saves to (see its log), or set stop-writes-on-bgsave-error no',
        };
      }
      return { state: 'ok' };
    },
  );
}

/**
 * Connects as a NATS client and asks JetStream for the account's info (`$JS.API.INFO`): a NATS
 * without JetStream (Debian's nats-server package runs so) greets like any other, but cannot hold
 * the app's streams.
 */
export function natsHealth(host: string, port: number, credentials: Record<string, string>): Promise<Health> {
  const inbox = `_INBOX.local_services_${process.pid}`;
  const connectOptions = { verbose: false, pedantic: false, protocol: 1, headers: true, no_responders: true };
  const noJetStream = (detail: string): Health => ({
    state: 'unusable',
    problem: `has JetStream off (${detail})`,
    fix: "Run nats-server with -js (JetStream); Debian's nats-server package starts it without",
  });
  let greeted = false;
  return converse(
    host,
    port,
    'NATS',
    () => {}, // the server speaks first
    (received, write) => {
      let at = 0;
      for (;;) {
        const eol = received.indexOf('\r\n', at);
        if (eol < 0) return undefined;
        const line = received.toString('latin1', at, eol);
        at = eol + 2;
        if (!greeted) {
          if (!line.startsWith('INFO ')) throw new Error('not NATS');
          greeted = true;
          const info = JSON.parse(line.slice(5)) as { tls_required?: boolean };
          if (info.tls_required) {
            return { state: 'unusable', problem: 'requires TLS', fix: 'Use a tls:// URL in NATS_URL' };
          }
          const connectJson = JSON.stringify({ ...connectOptions, ...credentials });
          write(`CONNECT ${connectJson}\r\nSUB ${inbox} 1\r\nPUB $JS.API.INFO ${inbox} 0\r\n\r\nPING\r\n`);
          continue;
        }
        if (line.startsWith('-ERR')) {
          return {
            state: 'unusable',
            problem: `refuses the connection (${line.slice(5)})`,
            fix: 'Put the credentials in NATS_URL (nats://USER:PASSWORD@host:port or nats://TOKEN@host:port)',
          };
        }
        if (line === 'PING') write('PONG\r\n');
        const msg = /^(H?)MSG \S+ 1 (?:(\d+) )?(\d+)$/.exec(line);
        if (!msg) continue;
        const total = Number(msg[3]);
        if (received.length < at + total + 2) return undefined;
        const headerLength = msg[1] ? Number(msg[2]) : 0;
        const headers = received.toString('latin1', at, at + headerLength);
        if (/^NATS\/1\.0 503/.test(headers)) return noJetStream('no one answers $JS.API.INFO');
        const body = JSON.parse(received.toString('utf8', at + headerLength, at + total)) as {
          error?: { description?: string };
        };
        return body.error ? noJetStream(body.error.description ?? 'JetStream API error') : { state: 'ok' };
      }
    },
  );
}

/** A TCP port on `host` that was free a moment ago. */
export function freePort(host: string): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
