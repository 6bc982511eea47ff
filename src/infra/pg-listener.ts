import pg from 'pg';
import type { Logger } from '../logger.js';

export interface PgListener {
  close(): Promise<void>;
}

const RECONNECT_DELAY_MS = 1000;

/**
 * LISTENs on a Postgres channel over its own connection (a pooled one could be handed to another
 * query, and LISTEN belongs to a session). `onNotify` gets each notification's payload. It
 * reconnects after a failure and then calls `onNotify` once without a payload, since
 * notifications sent while it was away are lost. Callers keep a poll as a safety net.
 */
export async function listenPg(
  databaseUrl: string,
  channel: string,
  onNotify: (payload?: string) => void,
  log: Logger,
): Promise<PgListener> {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: databaseUrl });
    c.on('notification', (n) => {
      if (n.channel === channel) onNotify(n.payload);
    });
    c.on('error', (err) => {
      log.warn({ err: err.message, channel }, 'postgres listener connection failed; reconnecting');
      void c.end().catch(() => undefined);
    });
    c.on('end', () => {
      if (client === c) client = undefined;
      if (!closed) scheduleReconnect();
    });
    try {
      await c.connect();
      await c.query(`listen "${channel.replaceAll('"', '""')}"`);
    } catch (err) {
      log.warn({ err: (err as Error).message, channel }, 'postgres listener could not connect; retrying');
      await c.end().catch(() => undefined);
      scheduleReconnect();
      return;
    }
    if (closed) {
      await c.end();
      return;
    }
    client = c;
  };

  const scheduleReconnect = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect().then(() => {
        if (client) onNotify();
      });
    }, RECONNECT_DELAY_MS);
  };

  await connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
