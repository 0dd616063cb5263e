/** Shared CLI plumbing: argument parsing errors, output, progress. */
import { EdgeheadError } from '../core/errors.js';

export class UsageError extends Error {}

export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function warn(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Progress with rate and ETA on a terminal; nothing in pipes and CI logs. */
export function progress(label: string): ((done: number, total: number) => void) & { end(): void } {
  const start = performance.now();
  const tty = process.stderr.isTTY && !process.env.CI;
  let last = '';
  const update = (done: number, total: number) => {
    if (!tty) return;
    const secs = (performance.now() - start) / 1000;
    const rate = done / Math.max(secs, 1e-3);
    const eta = rate > 0 ? (total - done) / rate : 0;
    const width = 24;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    last = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${rate.toFixed(1)}/s ETA ${eta.toFixed(0)}s`;
    process.stderr.write(`\r${last}`);
  };
  return Object.assign(update, {
    end() {
      if (tty && last) process.stderr.write('\n');
    },
  });
}

/** Prints an error the way a user needs it: what went wrong and what to do; exit code 1 or 2. */
export function reportError(e: unknown): number {
  if (e instanceof UsageError) {
    warn(`edgehead: ${e.message}`);
    warn('Run `edgehead --help` for usage.');
    return 2;
  }
  if (e instanceof EdgeheadError) {
    warn(`edgehead: ${e.code}: ${e.message}`);
    return 1;
  }
  warn(`edgehead: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return 1;
}
