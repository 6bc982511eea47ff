/**
 * Preloaded with `node --import` into one worker process: its wall clock (Date) runs ten minutes
 * ahead, as on a host whose NTP broke. Timers and performance.now are untouched, as they are on
 * such a host. The app must take every time decision from Postgres `now()`, so nothing changes.
 */
const SKEW_MS = 10 * 60_000;
const RealDate = Date;
const skewedNow = () => RealDate.now() + SKEW_MS;

globalThis.Date = new Proxy(RealDate, {
  construct: (target, args: unknown[]): object =>
    Reflect.construct(target, args.length === 0 ? [skewedNow()] : args) as object,
  // Date() called as a function gives the current time as a string.
  apply: () => new RealDate(skewedNow()).toString(),
  get: (target, prop): unknown => (prop === 'now' ? skewedNow : (Reflect.get(target, prop) as unknown)),
});
