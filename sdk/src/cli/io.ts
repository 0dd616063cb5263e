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
/**
 * Prints an error and returns the exit code. With `--json`, scripts also get one object
 * `{"error":{"code","message"}}` on stdout, so they can tell what failed without parsing stderr.
 */
export function reportError(e: unknown, options: { json?: boolean; command?: string } = {}): number {
  const { code, message, exit, stack } = describeError(e);
  if (options.json) out(JSON.stringify({ error: { code, message } }));
  if (code === 'USAGE') {
    warn(`edgehead: ${message}`);
    warn(`Run \`edgehead ${options.command ?? '<command>'} --help\` for usage.`);
  } else if (stack) warn(`edgehead: unexpected error: ${stack}`);
  else warn(`edgehead: ${code}: ${message}`);
  return exit;
}

function describeError(e: unknown): { code: string; message: string; exit: number; stack?: string } {
  if (e instanceof UsageError) return { code: 'USAGE', message: e.message, exit: 2 };
  if (e instanceof EdgeheadError) return { code: e.code, message: e.message, exit: 1 };
  // An edge API answer (EdgeApiError) or any other error carrying a stable code: no stack trace.
  if (e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && typeof (e as { status?: unknown }).status === 'number') {
    return { code: (e as unknown as { code: string }).code, message: e.message, exit: 1 };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'UNEXPECTED', message, exit: 1, stack: e instanceof Error ? (e.stack ?? message) : message };
}

/** A flag's value as a number in [min, max] (integers only when `integer`), checked before any work. */
export function numberFlag(flag: string, value: string | undefined, options: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const { min = -Infinity, max = Infinity, integer = false } = options;
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const range = `${integer ? 'an integer' : 'a number'}${min > -Infinity ? ` ≥ ${min}` : ''}${max < Infinity ? ` and ≤ ${max}` : ''}`;
    throw new UsageError(`--${flag} must be ${range}, not "${value}".`);
  }
  return n;
}

/** Writes a per-input failure: a JSON line with --json, a warning otherwise. */
export function reportInputFailure(input: string, error: EdgeheadError, json: boolean | undefined): void {
  if (json) out(JSON.stringify({ input, error: { code: error.code, message: error.message } }));
  else warn(`edgehead: ${error.code}: ${error.message}`);
}

/** --encoding: utf8 (the default; BOMs are honoured) or latin1. */
export function encodingFlag(value: string | undefined): 'utf8' | 'latin1' | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase().replace(/[-_]/g, '');
  if (v === 'utf8') return 'utf8';
  if (v === 'latin1' || v === 'iso88591') return 'latin1';
  throw new UsageError(`--encoding must be utf8 or latin1, not "${value}".`);
}
