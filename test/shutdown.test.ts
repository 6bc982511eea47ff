import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestSystem, type TestSystem } from './support/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  // Stopping again after the test stopped the app is a no-op (app.stop() is memoized).
  await sys.stop();
});

/** A graphql-ws connection that has been acknowledged by the server. */
async function openGraphqlWs(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  await once(socket, 'open');
  const acked = new Promise<void>((resolve, reject) => {
    socket.on('message', (data: Buffer) => {
      if ((JSON.parse(data.toString()) as { type: string }).type === 'connection_ack') resolve();
    });
    socket.once('close', (code) => reject(new Error(`closed with ${code} before connection_ack`)));
  });
  socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  await acked;
  return socket;
}

async function readAll(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res as AsyncIterable<Buffer>) text += chunk.toString('utf8');
  return text;
}

describe('graceful shutdown', () => {
  it('finishes a request in flight, closes websockets with 1001, then refuses new connections', async () => {
    const socket = await openGraphqlWs(sys.wsUrl);
    const wsClosed = once(socket, 'close') as Promise<[number, Buffer]>;

    const body = JSON.stringify({ query: '{ events(first: 1) { totalCount } }' });
    const half = Math.floor(body.length / 2);
    const req = request(sys.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        // The server answers `100 Continue` once it has parsed the headers and handed the request to
        // its handler: proof that the request is in flight before we stop the app.
        expect: '100-continue',
      },
    });
    const response = once(req, 'response') as Promise<[IncomingMessage]>;
    await once(req, 'continue');
    req.write(body.slice(0, half));

    const stopped = sys.app.stop(); // deliberately not awaited: the body is still being sent
    // Shutdown is under way once the server has closed the websocket ("going away").
    const [code] = await wsClosed;
    expect(code).toBe(1001);
    req.end(body.slice(half));

    const [res] = await response;
    const text = await readAll(res);
    expect(res.statusCode, text).toBe(200);
    expect(JSON.parse(text)).toEqual({ data: { events: { totalCount: 0 } } });

    await stopped;
    const refused = await fetch(sys.url, { method: 'POST' }).then(
      () => undefined,
      (err: unknown) => (err as { cause?: { code?: string } }).cause?.code,
    );
    expect(refused).toBe('ECONNREFUSED');
  });
});
