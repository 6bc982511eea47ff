import {
  Kind,
  OperationTypeNode,
  getOperationAST,
  subscribe,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';

/**
 * Subscriptions whose events are the same for everyone (`stockChanged`: an event's live count) run
 * once per distinct document, operation and variables, and every result goes to each subscriber of
 * that operation: during a sale 10,000 sockets watching one event cost one execution per update
 * instead of 10,000 (that fan-out was most of a gateway's CPU and memory in the burst). A subscriber
 * that joins later gets the last result first, as its own subscription would have started with the
 * current count, then the next ones; a slow one keeps only the newest. Anything else (and an
 * operation that fails at its start, e.g. an unknown event) runs per subscriber as before.
 */
export class SharedSubscriptions {
  private readonly feeds = new Map<string, SharedFeed>();
  private readonly documentIds = new WeakMap<DocumentNode, number>();
  private readonly shareableDocuments = new WeakMap<DocumentNode, boolean>();
  private nextDocumentId = 1;

  /** `fields`: the subscription fields whose events do not depend on who subscribes. */
  constructor(private readonly fields: ReadonlySet<string>) {}

  subscribe(args: ExecutionArgs): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    const key = this.keyOf(args);
    if (key === null) return subscribe(args);
    const feed = this.feeds.get(key) ?? this.open(key, args);
    return feed.join();
  }

  private open(key: string, args: ExecutionArgs): SharedFeed {
    const feed = new SharedFeed(
      subscribe(args),
      () => this.feeds.get(key) === feed && this.feeds.delete(key),
      () => this.subscribe(args),
    );
    this.feeds.set(key, feed);
    return feed;
  }

  private keyOf(args: ExecutionArgs): string | null {
    if (!this.isShareable(args.document, args.operationName)) return null;
    let id = this.documentIds.get(args.document);
    if (id === undefined) {
      id = this.nextDocumentId++;
      this.documentIds.set(args.document, id);
    }
    return `${id}:${args.operationName ?? ''}:${JSON.stringify(args.variableValues ?? {})}`;
  }

  /** A subscription whose root fields are all shareable, without directives or fragments (per document). */
  private isShareable(document: DocumentNode, operationName: string | null | undefined): boolean {
    if (document.definitions.length !== 1) return false; // several operations: not worth the cache
    let shareable = this.shareableDocuments.get(document);
    if (shareable === undefined) {
      const operation = getOperationAST(document, operationName);
      shareable =
        operation?.operation === OperationTypeNode.SUBSCRIPTION &&
        !operation.directives?.length &&
        operation.selectionSet.selections.every(
          (s) => s.kind === Kind.FIELD && this.fields.has(s.name.value) && !s.directives?.length,
        );
      this.shareableDocuments.set(document, shareable);
    }
    return shareable;
  }
}

/** One running operation and its subscribers. */
class SharedFeed {
  private readonly subscribers = new Set<LatestResult>();
  private last: ExecutionResult | undefined;
  private source: AsyncIterator<ExecutionResult> | undefined;
  private ended = false;

  constructor(
    private readonly started: ReturnType<typeof subscribe>,
    /** Takes this feed out of the shared ones: later subscribers start a new one. */
    private readonly close: () => void,
    /** Subscribes again, for a subscriber that arrives as this feed ends. */
    private readonly rejoin: () => Promise<AsyncIterable<ExecutionResult> | ExecutionResult>,
  ) {}

  /** The subscriber's own stream, or the operation's error result when it failed to start. */
  async join(): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    let source;
    try {
      source = await this.started;
    } catch (err) {
      this.close();
      throw err;
    }
    if (!(Symbol.asyncIterator in source)) {
      this.close(); // not shared: the next subscriber tries again
      return source;
    }
    if (this.ended) return this.rejoin();
    if (!this.source) {
      this.source = source[Symbol.asyncIterator]();
      void this.pump(this.source);
    }
    const subscriber = new LatestResult(() => {
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) this.stopSource();
    });
    if (this.last) subscriber.push(this.last);
    this.subscribers.add(subscriber);
    return subscriber;
  }

  private async pump(source: AsyncIterator<ExecutionResult>): Promise<void> {
    let failure: unknown;
    try {
      for (;;) {
        const step: IteratorResult<ExecutionResult> = await source.next();
        if (step.done) break;
        const value = step.value;
        this.last = value;
        for (const subscriber of this.subscribers) subscriber.push(value);
      }
    } catch (err) {
      failure = err;
    }
    this.ended = true;
    this.close();
    for (const subscriber of this.subscribers) subscriber.end(failure);
  }

  private stopSource(): void {
    if (this.ended) return;
    this.ended = true;
    this.close();
    void this.source?.return?.();
  }
}

/** A subscriber's stream: the newest result not yet read (older unread ones are dropped), then the end. */
class LatestResult implements AsyncIterableIterator<ExecutionResult> {
  private unread: ExecutionResult | undefined;
  private reader: ((step: IteratorResult<ExecutionResult>) => void) | undefined;
  private failReader: ((err: unknown) => void) | undefined;
  private finished = false;
  private failure: Error | undefined;

  constructor(private readonly onReturn: () => void) {}

  push(result: ExecutionResult): void {
    if (this.finished) return;
    const reader = this.reader;
    if (reader) {
      this.reader = this.failReader = undefined;
      reader({ value: result, done: false });
    } else this.unread = result;
  }

  /** The operation ended (with `err` when it failed). */
  end(err?: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.failure =
      err === undefined || err instanceof Error ? err : new Error('The subscription failed', { cause: err });
    const [reader, failReader] = [this.reader, this.failReader];
    this.reader = this.failReader = undefined;
    if (this.failure) failReader?.(this.failure);
    else reader?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    const unread = this.unread;
    if (unread) {
      this.unread = undefined;
      return Promise.resolve({ value: unread, done: false });
    }
    if (this.finished) {
      return this.failure !== undefined
        ? Promise.reject(this.failure)
        : Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.reader = resolve;
      this.failReader = reject;
    });
  }

  return(): Promise<IteratorResult<ExecutionResult>> {
    if (!this.finished) {
      this.finished = true;
      this.unread = undefined;
      this.reader?.({ value: undefined, done: true });
      this.reader = this.failReader = undefined;
      this.onReturn();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
