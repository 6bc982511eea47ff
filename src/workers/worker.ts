/** A running background loop: a queue consumer or a periodic sweep. */
export interface Worker {
  name: string;
  stop(): Promise<void>;
}
