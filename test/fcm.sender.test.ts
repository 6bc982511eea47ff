import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import { Agent } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { deleteApp, getApps, initializeApp, type App } from 'firebase-admin/app';
import { getMessaging } from 'firebase-admin/messaging';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FcmSender } from '../src/infra/push/fcm.sender.js';
import type { PushMessage } from '../src/infra/push/push-sender.js';

/**
 * The real firebase-admin SDK against a local stand-in of the FCM v1 endpoint
 * (`POST /v1/projects/:project/messages:send`). The SDK always calls https://fcm.googleapis.com,
 * but it sends HTTP/1.1 requests through the app's `httpAgent` once the legacy transport is on;
 * an agent whose sockets lead to the stand-in redirects every call without touching the SDK.
 * Production uses the default HTTP/2 transport; both build responses and errors the same way.
 */

type Reply = 'ok' | 'internal' | 'quota' | 'unregistered' | 'invalid';

/** How FCM v1 answers each failure; firebase-admin turns these into `messaging/...` codes. */
const REPLIES: Record<Exclude<Reply, 'ok'>, { status: number; error: object }> = {
  internal: { status: 500, error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } },
  quota: {
    status: 429,
    error: {
      code: 429,
      message: 'Quota exceeded.',
      status: 'RESOURCE_EXHAUSTED',
      details: [fcmError('QUOTA_EXCEEDED')],
    },
  },
  unregistered: {
    status: 404,
    error: {
      code: 404,
      message: 'Requested entity was not found.',
      status: 'NOT_FOUND',
      details: [fcmError('UNREGISTERED')],
    },
  },
  invalid: {
    status: 400,
    error: {
      code: 400,
      message: 'The registration token is not a valid FCM registration token',
      status: 'INVALID_ARGUMENT',
      details: [fcmError('INVALID_ARGUMENT')],
    },
  },
};

function fcmError(errorCode: string) {
  return { '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode };
}

interface FcmRequest {
  path: string;
  authorization: string | undefined;
  message: {
    token: string;
    notification?: { title?: string; body?: string };
    data?: Record<string, string>;
    android?: { collapse_key?: string };
    apns?: { headers?: Record<string, string> };
  };
}

describe('FcmSender', () => {
  let server: Server;
  let app: App;
  let requests: FcmRequest[];
  /** Per token, the replies to give in order; once used up (or absent), the token is accepted. */
  let script: Map<string, Reply[]>;
  let sender: FcmSender;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        const { message } = JSON.parse(raw) as { message: FcmRequest['message'] };
        requests.push({ path: req.url ?? '', authorization: req.headers.authorization, message });
        const reply = script.get(message.token)?.shift() ?? 'ok';
        const [status, body] =
          reply === 'ok'
            ? [200, { name: `projects/demo-tickets/messages/${randomUUID()}` }]
            : [REPLIES[reply].status, { error: REPLIES[reply].error }];
        res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    class ToStandIn extends Agent {
      override createConnection() {
        return connect(port, '127.0.0.1');
      }
    }
    app = initializeApp(
      {
        projectId: 'demo-tickets',
        // A fixed token: the stand-in needs no Google sign-in, and no credentials leave the machine.
        credential: { getAccessToken: async () => ({ access_token: 'stand-in-token', expires_in: 3600 }) },
        httpAgent: new ToStandIn(),
      },
      `fcm-test-${randomUUID()}`,
    );
    const messaging = getMessaging(app);
    messaging.enableLegacyHttpTransport();
    sender = new FcmSender(messaging, { maxAttempts: 3, baseDelayMs: 5 });
  });
  afterAll(async () => {
    await deleteApp(app);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    requests = [];
    script = new Map();
  });

  const message = (): PushMessage => ({
    notificationId: randomUUID(),
    title: 'Payment received',
    body: 'Your 2 tickets are confirmed.',
    data: { kind: 'ORDER_SUCCEEDED', orderId: randomUUID() },
  });
  const sentTo = (token: string) => requests.filter((r) => r.message.token === token).length;

  it('sends to every token, with the notification id as data and as the collapse key', async () => {
    const push = message();

    const results = await sender.send(['tok-a', 'tok-b'], push);

    expect(results).toEqual([
      { token: 'tok-a', outcome: 'sent', messageId: expect.stringMatching(/^projects\/demo-tickets\/messages\//) },
      { token: 'tok-b', outcome: 'sent', messageId: expect.stringMatching(/^projects\/demo-tickets\/messages\//) },
    ]);
    expect(requests).toHaveLength(2);
    for (const request of requests) {
      expect(request.path).toBe('/v1/projects/demo-tickets/messages:send');
      expect(request.authorization).toBe('Bearer stand-in-token');
      expect(request.message).toMatchObject({
        notification: { title: push.title, body: push.body },
        data: { ...push.data, notificationId: push.notificationId },
        android: { collapse_key: push.notificationId },
        apns: { headers: { 'apns-collapse-id': push.notificationId } },
      });
    }
  });

  it('retries only the tokens that failed transiently, then sends them', async () => {
    script.set('tok-flaky', ['internal']);
    script.set('tok-throttled', ['quota', 'internal']);

    const results = await sender.send(['tok-ok', 'tok-flaky', 'tok-throttled'], message());

    expect(results.map((r) => r.outcome)).toEqual(['sent', 'sent', 'sent']);
    expect(sentTo('tok-ok')).toBe(1);
    expect(sentTo('tok-flaky')).toBe(2);
    expect(sentTo('tok-throttled')).toBe(3);
  });

  it('reports unregistered and malformed tokens as invalid_token without retrying them', async () => {
    script.set('tok-gone', ['unregistered']);
    script.set('tok-garbage', ['invalid']);

    const results = await sender.send(['tok-gone', 'tok-ok', 'tok-garbage'], message());

    expect(results).toEqual([
      { token: 'tok-gone', outcome: 'invalid_token' },
      expect.objectContaining({ token: 'tok-ok', outcome: 'sent' }),
      { token: 'tok-garbage', outcome: 'invalid_token' },
    ]);
    expect(sentTo('tok-gone')).toBe(1);
    expect(sentTo('tok-garbage')).toBe(1);
  });

  it('gives up on a token that keeps failing after maxAttempts and says why', async () => {
    script.set('tok-down', ['internal', 'internal', 'internal', 'internal']);

    const [result] = await sender.send(['tok-down'], message());

    expect(result).toEqual({
      token: 'tok-down',
      outcome: 'failed',
      error: expect.stringContaining('messaging/internal-error'),
    });
    expect(sentTo('tok-down')).toBe(3);
  });

  it('sends a token listed twice once, and answers for both entries', async () => {
    const results = await sender.send(['tok-twice', 'tok-twice'], message());

    expect(results.map((r) => [r.token, r.outcome])).toEqual([
      ['tok-twice', 'sent'],
      ['tok-twice', 'sent'],
    ]);
    expect(sentTo('tok-twice')).toBe(1);
  });

  it('makes no request for an empty token list', async () => {
    await expect(sender.send([], message())).resolves.toEqual([]);
    expect(requests).toHaveLength(0);
  });

  it('builds itself from a service-account key file without contacting Google', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fcm-cred-'));
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const path = join(dir, 'service-account.json');
    await writeFile(
      path,
      JSON.stringify({
        type: 'service_account',
        project_id: 'demo-tickets',
        private_key_id: 'key-1',
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
        client_email: 'push@demo-tickets.iam.gserviceaccount.com',
      }),
    );
    try {
      expect(FcmSender.fromCredentials(path).name).toBe('fcm');
      // A second sender (another worker loop in the same process) reuses the app instead of failing.
      expect(() => FcmSender.fromCredentials(path)).not.toThrow();
      expect(getApps().filter((a) => a.name === 'push-fcm')).toHaveLength(1);
    } finally {
      await Promise.all(
        getApps()
          .filter((a) => a.name === 'push-fcm')
          .map((a) => deleteApp(a)),
      );
      await rm(dir, { recursive: true, force: true });
    }
  });
});
