import type { WebSocket } from 'ws';
import type { AuthUser } from '../context.js';
import type { Metrics } from '../metrics.js';

/** Close codes of our own, next to graphql-ws' (4400 bad request, 4403 forbidden, …). */
export const SocketCloseCode = {
  /** The token expired or was revoked (signOutEverywhere, a role change, a deleted account). */
  SessionEnded: 4403,
  /** A cap on sockets per client address or per user; graphql-ws clients do not retry it. */
  TooManySockets: 4429,
} as const;

export interface SocketLimits {
  maxSocketsPerAddress: number;
  maxSocketsPerUser: number;
  /** Operations running at once on one socket (subscriptions, and queries or mutations in flight). */
  maxOperationsPerSocket: number;
}

/** What this gateway keeps about one open socket; all of it goes when the socket closes. */
interface TrackedSocket {
  readonly address: string;
  user: AuthUser | null;
  /** connection_init's `authorization`, verified again before every operation. */
  authorization: unknown;
  readonly operations: Set<string>;
  expiry: NodeJS.Timeout | undefined;
}

/** Longest delay setTimeout takes; tokens live at most 7 days, but re-arming costs nothing. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The per-socket bookkeeping of the graphql-ws endpoint: caps on sockets per client address and per
 * user and on operations per socket, and each signed-in socket's end, which is when its token
 * expires or is revoked. Every map entry and timer is released when its socket closes, and the
 * gauges report their sizes, so a leak shows on /metrics.
 */
export class SocketSessions {
  private readonly sockets = new Map<WebSocket, TrackedSocket>();
  private readonly perAddress = new Map<string, number>();
  private readonly perUser = new Map<string, Set<WebSocket>>();
  private operations = 0;
  private timers = 0;

  constructor(
    private readonly limits: SocketLimits,
    private readonly metrics: Metrics,
  ) {}

  /** A new socket; refused (closed with 4429, false) when its address already has its share. */
  opened(socket: WebSocket, address: string): boolean {
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (fromAddress >= this.limits.maxSocketsPerAddress) {
      this.metrics.wsRefused.inc({ reason: 'address' });
      socket.close(SocketCloseCode.TooManySockets, 'Too many sockets from this address');
      return false;
    }
    this.perAddress.set(address, fromAddress + 1);
    this.sockets.set(socket, {
      address,
      user: null,
      authorization: undefined,
      operations: new Set(),
      expiry: undefined,
    });
    socket.once('close', () => this.closed(socket));
    this.report();
    return true;
  }

  /**
   * connection_init was accepted for `user` (null: anonymous). False, with the socket closed, when
   * the socket is gone or the user already has their share of sockets; else the socket's end is
   * set for when the token expires.
   */
  signedIn(socket: WebSocket, user: AuthUser | null, authorization: unknown): boolean {
    const tracked = this.sockets.get(socket);
    if (!tracked) return false;
    if (user) {
      let own = this.perUser.get(user.id);
      if ((own?.size ?? 0) >= this.limits.maxSocketsPerUser) {
        this.metrics.wsRefused.inc({ reason: 'user' });
        socket.close(SocketCloseCode.TooManySockets, 'Too many sockets for this account');
        return false;
      }
      if (!own) this.perUser.set(user.id, (own = new Set()));
      own.add(socket);
      tracked.user = user;
      tracked.authorization = authorization;
      this.armExpiry(socket, tracked, user.expiresAtMs);
    }
    this.report();
    return true;
  }

  /** The socket's user and connection_init authorization, or undefined once it is closed. */
  session(socket: WebSocket): { user: AuthUser | null; authorization: unknown } | undefined {
    return this.sockets.get(socket);
  }

  /** Closes the socket with 4403: its token expired or was revoked. */
  endSession(socket: WebSocket, reason: 'expired' | 'revoked'): void {
    if (!this.sockets.has(socket)) return;
    this.metrics.wsSessionsEnded.inc({ reason });
    socket.close(SocketCloseCode.SessionEnded, reason === 'expired' ? 'Token expired' : 'Session ended');
  }

  /** Closes the user's sockets whose tokens are older than `minVersion`. */
  revoke(userId: string, minVersion: number): void {
    for (const socket of this.perUser.get(userId) ?? []) {
      const user = this.sockets.get(socket)?.user;
      if (user && user.tokenVersion < minVersion) this.endSession(socket, 'revoked');
    }
  }

  /** Counts operation `id` on the socket; false when the socket already runs its share (or is closed). */
  startOperation(socket: WebSocket, id: string): boolean {
    const tracked = this.sockets.get(socket);
    if (!tracked) return false;
    if (tracked.operations.size >= this.limits.maxOperationsPerSocket) {
      this.metrics.wsRefused.inc({ reason: 'operations' });
      return false;
    }
    tracked.operations.add(id);
    this.operations += 1;
    this.metrics.wsOperationsOpen.set(this.operations);
    return true;
  }

  endOperation(socket: WebSocket, id: string): void {
    const tracked = this.sockets.get(socket);
    if (!tracked?.operations.delete(id)) return;
    this.operations -= 1;
    this.metrics.wsOperationsOpen.set(this.operations);
  }

  private armExpiry(socket: WebSocket, tracked: TrackedSocket, expiresAtMs: number): void {
    if (tracked.expiry) {
      clearTimeout(tracked.expiry);
      this.timers -= 1;
    }
    const delay = Math.max(0, expiresAtMs - Date.now());
    tracked.expiry = setTimeout(
      () => {
        tracked.expiry = undefined;
        this.timers -= 1;
        if (delay > MAX_TIMER_MS) this.armExpiry(socket, tracked, expiresAtMs);
        else this.endSession(socket, 'expired');
        this.report();
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    tracked.expiry.unref();
    this.timers += 1;
  }

  private closed(socket: WebSocket): void {
    const tracked = this.sockets.get(socket);
    if (!tracked) return;
    this.sockets.delete(socket);
    if (tracked.expiry) {
      clearTimeout(tracked.expiry);
      this.timers -= 1;
    }
    this.operations -= tracked.operations.size;
    tracked.operations.clear();
    const fromAddress = (this.perAddress.get(tracked.address) ?? 1) - 1;
    if (fromAddress > 0) this.perAddress.set(tracked.address, fromAddress);
    else this.perAddress.delete(tracked.address);
    if (tracked.user) {
      const own = this.perUser.get(tracked.user.id);
      own?.delete(socket);
      if (own?.size === 0) this.perUser.delete(tracked.user.id);
    }
    this.report();
  }

  private report(): void {
    this.metrics.wsSocketsOpen.set(this.sockets.size);
    this.metrics.wsOperationsOpen.set(this.operations);
    this.metrics.wsTracked.set({ index: 'address' }, this.perAddress.size);
    this.metrics.wsTracked.set({ index: 'user' }, this.perUser.size);
    this.metrics.wsTracked.set({ index: 'expiry_timer' }, this.timers);
  }
}
