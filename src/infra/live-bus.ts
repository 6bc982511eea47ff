import { Repeater } from '@repeaterjs/repeater';
import type { Subscription } from '@nats-io/transport-node';
import type { Logger } from '../logger.js';
import type { Nats } from './nats.js';

/**
 * `source` with `map` applied to each value. Unlike an async generator looping over `source`, whose
 * return() waits behind a pending next() (for a quiet feed, forever, so the source's listener is
 * never released), return() here reaches the source at once.
 */
export function mapIterator<T, U>(source: AsyncIterableIterator<T>, map: (value: T) => U): AsyncIterableIterator<U> {
  return {
    async next() {
      const result = await source.next();
      return result.done ? { done: true, value: undefined } : { done: false, value: map(result.value) };
    },
    async return() {
      await source.return?.();
      return { done: true, value: undefined };
    },
    async throw(err?: unknown) {
      await source.return?.();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * Live updates between processes over core NATS: a worker publishes, every gateway receives and
 * hands the message to its own subscribers. Delivery is at-most-once by design; what must not be
 * lost travels through JetStream or Postgres, and subscriptions re-read state when they start.
 *
 * Each gateway holds one wildcard NATS subscription per topic and fans out locally, so a million
 * sockets cost NATS nothing more than the number of gateways.
 */
export class LiveBus<Topics extends Record<string, unknown>> {
  private readonly listeners = new Map<string, Set<(payload: unknown) => void>>();
  private readonly topicListeners = new Map<string, Set<(key: string, payload: unknown) => void>>();
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly nats: Nats,
    private readonly log: Logger,
  ) {}

  /** `<namespace>.live.<topic>.<key>`; keys are ids (no dots), so one wildcard covers a topic. */
  private subject(topic: string, key: string): string {
    return `${this.nats.names.livePrefix}.${topic}.${key}`;
  }

  publish<T extends keyof Topics & string>(topic: T, key: string, payload: Topics[T]): void {
    this.nats.nc.publish(this.subject(topic, key), JSON.stringify(payload));
  }

  /** Starts receiving the topic from NATS (gateways do this once at start-up). */
  receive<T extends keyof Topics & string>(topic: T): void {
    const sub = this.nats.nc.subscribe(this.subject(topic, '*'), {
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ err, topic }, 'live subscription error');
          return;
        }
        const set = this.listeners.get(msg.subject);
        const all = this.topicListeners.get(topic);
        if (!set?.size && !all?.size) return;
        let payload: unknown;
        try {
          payload = msg.json();
        } catch (parseErr) {
          this.log.warn({ err: parseErr, subject: msg.subject }, 'dropping malformed live message');
          return;
        }
        for (const listener of set ?? []) listener(payload);
        if (all?.size) {
          const key = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
          for (const listener of all) listener(key, payload);
        }
      },
    });
    this.subscriptions.push(sub);
  }

  /** Calls `listener` for each message of `topic` under `key` received by this process; returns an unsubscribe. */
  listen<T extends keyof Topics & string>(topic: T, key: string, listener: (payload: Topics[T]) => void): () => void {
    const subject = this.subject(topic, key);
    let set = this.listeners.get(subject);
    if (!set) this.listeners.set(subject, (set = new Set()));
    const fn = listener as (payload: unknown) => void;
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.listeners.delete(subject);
    };
  }

  /** Calls `listener` for every message of `topic`, whatever its key; returns an unsubscribe. */
  listenAll<T extends keyof Topics & string>(
    topic: T,
    listener: (key: string, payload: Topics[T]) => void,
  ): () => void {
    let set = this.topicListeners.get(topic);
    if (!set) this.topicListeners.set(topic, (set = new Set()));
    const fn = listener as (key: string, payload: unknown) => void;
    set.add(fn);
    return () => set.delete(fn);
  }

  /** The messages of `topic` under `key` as an async iterator, for GraphQL subscriptions. */
  iterate<T extends keyof Topics & string>(topic: T, key: string): AsyncIterableIterator<Topics[T]> {
    return new Repeater<Topics[T]>(async (push, stop) => {
      const unlisten = this.listen(topic, key, (payload) => void push(payload));
      await stop;
      unlisten();
    });
  }

  /** Listeners of one key (subscriptions and waiters) in this process; 0 once they all ended. */
  keyedListenerCount(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }

  close(): void {
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.listeners.clear();
    this.topicListeners.clear();
  }
}
