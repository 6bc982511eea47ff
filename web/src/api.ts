import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';

/** A GraphQL error as the API sends it: `extensions.code` always, `field`/`fields` on BAD_USER_INPUT. */
export interface ApiErrorDetail {
  message: string;
  extensions?: {
    code?: string;
    field?: string;
    fields?: { field: string; message: string }[];
    retryAfterSeconds?: number;
  };
}

export class ApiError extends Error {
  constructor(readonly errors: ApiErrorDetail[]) {
    super(errors.map((e) => e.message).join('; ') || 'Request failed');
  }
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
  /** Messages by input field, for forms. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.errors) {
      for (const f of e.extensions?.fields ?? []) out[f.field.replace(/^input\./, '')] ??= f.message;
      const field = e.extensions?.field;
      if (field) out[field.replace(/^input\./, '')] ??= e.message.replace(/^[\w.]+: /, '');
    }
    return out;
  }
}

/** What a person should read for an error, by its code. */
export function describeError(err: unknown): string {
  if (!(err instanceof ApiError)) return 'The server cannot be reached. Check your connection and try again.';
  switch (err.code) {
    case 'UNAUTHENTICATED':
      return 'Please sign in first.';
    case 'FORBIDDEN':
      return 'You are not allowed to do that.';
    case 'RATE_LIMITED': {
      const s = err.errors[0]?.extensions?.retryAfterSeconds;
      return `Too many attempts. Try again${s ? ` in ${s} s` : ' shortly'}.`;
    }
    case 'UNAVAILABLE':
      return 'The service is briefly unavailable; nothing was changed. Try again in a moment.';
    case 'BAD_USER_INPUT':
    case 'NOT_FOUND':
    case 'CONFLICT':
    case undefined:
    default:
      return err.message;
  }
}

const TOKEN_KEY = 'tickets.token';

/** The id the client preset's codegen puts on a document it wrote into the persisted documents (`sha256:<hex>`). */
function persistedDocumentId(document: object): string | undefined {
  return (document as { __meta__?: { hash?: string } }).__meta__?.hash;
}

/**
 * The canonical persisted GET URL, built as the server's `persistedGetPath` builds it (the id as it
 * is, then the variables as compact JSON), so the app's requests and other clients' share cache entries.
 */
function persistedGetUrl(documentId: string, variables: unknown): string {
  const vars = variables === undefined ? '' : `&variables=${encodeURIComponent(JSON.stringify(variables))}`;
  return `/graphql?documentId=${documentId}${vars}`;
}

function isRefusal(event: unknown): boolean {
  return event instanceof CloseEvent && event.code >= 4400 && event.code < 4500;
}

/** The signed-in token (kept across reloads) and one graphql-ws socket for it. */
class Api {
  private token: string | null = localStorage.getItem(TOKEN_KEY);
  private socket: Client | undefined;
  private readonly signedOutListeners = new Set<() => void>();

  /** Called when the server no longer accepts the token; returns the function that stops listening. */
  onSignedOut(listener: () => void): () => void {
    this.signedOutListeners.add(listener);
    return () => void this.signedOutListeners.delete(listener);
  }

  get signedIn(): boolean {
    return this.token !== null;
  }

  setToken(token: string | null): void {
    this.token = token;
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
    // The socket authenticates once, when it connects: a new token needs a new socket.
    void this.socket?.dispose();
    this.socket = undefined;
  }

  /**
   * Runs a query or mutation. A document that codegen gave a persisted id (the public reads,
   * web/src/public-reads.graphql, which by rule do not depend on who asks) goes as
   * `GET /graphql?documentId=…&variables=…` without the token, signed in or not: its answer is
   * public for a second, so an edge cache serves the whole crowd refreshing the page in a sale, not
   * only the anonymous part of it. Everything else is a POST with the token.
   */
  async request<TData, TVars>(document: TypedDocumentNode<TData, TVars>, variables?: TVars): Promise<TData> {
    const accept = { accept: 'application/graphql-response+json, application/json' };
    const documentId = persistedDocumentId(document);
    const res = documentId
      ? await fetch(persistedGetUrl(documentId, variables), { headers: accept })
      : await fetch('/graphql', {
          method: 'POST',
          headers: {
            ...accept,
            'content-type': 'application/json',
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          },
          body: JSON.stringify({ query: print(document), variables }),
        });
    let body: { data?: TData | null; errors?: ApiErrorDetail[] };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new ApiError([{ message: `HTTP ${res.status}`, extensions: { code: 'UNAVAILABLE' } }]);
    }
    if (body.errors?.length) {
      if (body.errors[0]?.extensions?.code === 'UNAUTHENTICATED' && this.token) {
        // The token expired or was revoked: the person is signed out, everywhere in the app.
        this.setToken(null);
        for (const listener of this.signedOutListeners) listener();
      }
      throw new ApiError(body.errors);
    }
    if (!body.data) throw new ApiError([{ message: 'Empty response' }]);
    return body.data;
  }

  private ws(): Client {
    const token = this.token;
    return (this.socket ??= createClient({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
      lazy: true,
      retryAttempts: Infinity,
      // A dropped connection is retried; a refusal (4400-4499: expired token, too many sockets) is not.
      shouldRetry: (event) => !isRefusal(event),
    }));
  }

  /** Subscribes; returns the function that ends it. */
  subscribe<TData, TVars>(
    document: TypedDocumentNode<TData, TVars>,
    variables: TVars,
    onData: (data: TData) => void,
    onError?: (err: ApiError) => void,
  ): () => void {
    return this.ws().subscribe<TData>(
      { query: print(document), variables: variables as Record<string, unknown> },
      {
        next: (msg) => {
          if (msg.errors?.length) onError?.(new ApiError(msg.errors as ApiErrorDetail[]));
          else if (msg.data) onData(msg.data);
        },
        error: (err) =>
          onError?.(
            Array.isArray(err) ? new ApiError(err as ApiErrorDetail[]) : new ApiError([{ message: 'Connection lost' }]),
          ),
        complete: () => {},
      },
    );
  }
}

export const api = new Api();
