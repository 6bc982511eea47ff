/**
 * A one-line progress bar on stderr (stdout carries only the final table). On a terminal it
 * redraws in place; otherwise (CI logs, a file) it prints a line every few seconds.
 */
export class Progress {
  private label = '';
  private startedAt = 0;
  private lastPrint = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  start(label: string): void {
    this.label = label;
    this.startedAt = performance.now();
    this.lastPrint = 0;
    this.update(0);
  }

  /** `fraction` in [0, 1]; `note` says what is counted (e.g. "12 000/50 000 decided"). */
  update(fraction: number, note = ''): void {
    const now = performance.now();
    if (!this.tty && now - this.lastPrint < 5000 && fraction < 1) return;
    this.lastPrint = now;
    const width = 28;
    const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
    const filled = Math.round(f * width);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
    const elapsed = ((now - this.startedAt) / 1000).toFixed(1);
    const line = `${bar} ${String(Math.round(f * 100)).padStart(3)}% ${this.label} ${note} ${elapsed}s`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}`);
    else process.stderr.write(`${line}\n`);
  }

  /** Ends the bar with a one-line result. */
  done(result: string): void {
    const elapsed = ((performance.now() - this.startedAt) / 1000).toFixed(1);
    const line = `✓ ${this.label}: ${result} (${elapsed}s)`;
    process.stderr.write(this.tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
  }

  /** A message between phases. */
  log(msg: string): void {
    process.stderr.write(this.tty ? `\r\x1b[2K${msg}\n` : `${msg}\n`);
  }
}
