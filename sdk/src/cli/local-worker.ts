/**
 * Runs the edge worker locally with `wrangler dev` on 127.0.0.1, after applying the D1
 * migrations to the same local state folder. Used by `edgehead serve`, the demo, end-to-end
 * tests and `npm run bench:worker`.
 */
import { spawn, type ChildProcess, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BackendUnavailableError } from '../core/errors.js';

export interface LocalWorker {
  url: string;
  adminToken: string;
  stop(): Promise<void>;
}

export interface LocalWorkerOptions {
  /** Default: a free port chosen by the OS. */
  port?: number;
  /** Local D1/R2/DO state; by default a temporary folder, removed by stop(). */
  persistTo?: string;
  adminToken?: string;
  /** Extra `--var NAME:VALUE` settings (limits). */
  vars?: Record<string, string>;
  /** Print wrangler's output (serve) instead of swallowing it (tests). */
  inheritOutput?: boolean;
  startTimeoutMs?: number;
}

/** The repository root (where wrangler.toml lives), from sdk/src/cli or sdk/dist/cli. */
export function repoRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

function wranglerBin(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('wrangler/package.json')), 'bin', 'wrangler.js');
  } catch (cause) {
    throw new BackendUnavailableError('wrangler is not installed; run `npm ci` in the edgehead repository to serve the worker locally.', { cause });
  }
}

const env = () => ({ ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' });

/** A port nothing listens on right now (the OS picks it), so parallel runs do not collide. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startLocalWorker(options: LocalWorkerOptions = {}): Promise<LocalWorker> {
  const root = repoRoot();
  if (!existsSync(join(root, 'wrangler.toml')) || !existsSync(join(root, 'worker', 'src'))) {
    // The npm package ships the SDK and CLI, not the worker's source or wrangler.
    throw new BackendUnavailableError(
      'The local edge worker runs from an edgehead repository checkout (it needs worker/, wrangler.toml and wrangler, ' +
        'which the npm package does not ship). Clone the repository and run `npm ci && npx edgehead serve` there, or deploy ' +
        'the worker (docs/deploy.md) and use --url. `edgehead demo --no-worker` runs the rest of the demo here.',
    );
  }
  const temporary = options.persistTo === undefined;
  const persistTo = options.persistTo ?? (await mkdtemp(join(tmpdir(), 'edgehead-worker-')));
  const adminToken = options.adminToken ?? `local-${crypto.randomUUID()}`;
  const bin = wranglerBin();
  await promisify(execFile)(process.execPath, [bin, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo], { cwd: root, env: env() });
  const vars = Object.entries({ ADMIN_TOKEN: adminToken, ...options.vars }).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
  // Several dev servers may start at once (tests in parallel): each gets its own HTTP and
  // inspector ports, and an early exit (a port taken between choosing and binding it) is retried
  // on fresh ports, with wrangler's last words in the error if it keeps failing.
  let started: { child: ChildProcess; url: string; exited: () => boolean } | undefined;
  const failures: string[] = [];
  for (let attempt = 0; attempt < (options.port ? 1 : 3) && !started; attempt++) {
    const port = options.port ?? (await freePort());
    const inspector = await freePort();
    const args = [bin, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector), '--persist-to', persistTo, ...vars];
    const child: ChildProcess = spawn(process.execPath, args, { cwd: root, env: env(), stdio: options.inheritOutput ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-2000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited = false;
    child.once('exit', () => (exited = true));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
    for (;;) {
      if (exited) {
        failures.push(`port ${port}: wrangler dev exited early${tail ? `: …${tail.trim().slice(-400)}` : ''}`);
        break;
      }
      try {
        const res = await fetch(`${url}/v1/health`);
        if (res.ok) {
          started = { child, url, exited: () => exited };
          break;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill();
        throw new BackendUnavailableError(`The local worker did not answer on ${url} within the start timeout.${tail ? ` wrangler said: …${tail.trim().slice(-400)}` : ''}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  if (!started) throw new BackendUnavailableError(`wrangler dev did not start: ${failures.join('; ')}`);
  const { child, url } = started;
  const exited = started.exited;
  return {
    url,
    adminToken,
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (exited()) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      });
      // A state folder we created is ours to remove; a caller's (serve --persist-to) is kept.
      if (temporary) await rm(persistTo, { recursive: true, force: true });
    },
  };
}

/** Creates a tenant with a write and a read key through the admin API. */
export async function bootstrapTenant(url: string, adminToken: string, name = 'local'): Promise<{ tenant: string; writeKey: string; readKey: string }> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new BackendUnavailableError(`Admin call ${path} failed: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, string>>;
  };
  const t = await post('/v1/admin/tenants', { name });
  const w = await post(`/v1/admin/tenants/${t.id}/keys`, { scope: 'write' });
  const r = await post(`/v1/admin/tenants/${t.id}/keys`, { scope: 'read' });
  return { tenant: t.id, writeKey: w.key, readKey: r.key };
}

/**
 * Why a failed call looks like the dev runtime going away rather than an answer from the app:
 * a dropped connection (wrangler dev reloads workerd when files it watches change, e.g. a
 * concurrent `npm run build` rewriting sdk/dist), or a 502/503/504 that is not the app's JSON
 * error body (wrangler's proxy while workerd restarts). Undefined for everything else: an app
 * error (any `{"error":{"code"}}` body, a 503 NOT_MIGRATED included) is never retried.
 */
async function restartReason(outcome: { error: unknown } | { response: Response }): Promise<string | undefined> {
  if ('error' in outcome) {
    const e = outcome.error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (e?.name === 'AbortError') return undefined;
    const code = e?.cause?.code ?? '';
    const text = `${e?.message ?? ''} ${e?.cause?.message ?? ''}`;
    if (/^(ECONNRESET|ECONNREFUSED|EPIPE|UND_ERR_SOCKET|UND_ERR_CLOSED)$/.test(code) || /other side closed|socket hang up|ECONNRESET/.test(text)) {
      return `connection lost (${code || 'no code'}: ${text.trim()})`;
    }
    return undefined;
  }
  const res = outcome.response;
  if (![502, 503, 504].includes(res.status)) return undefined;
  const text = await res.clone().text();
  try {
    if (typeof (JSON.parse(text) as { error?: { code?: unknown } })?.error?.code === 'string') return undefined;
  } catch {
    // not JSON: not from the app
  }
  return `HTTP ${res.status} without an app error body (${text.slice(0, 120).replace(/\s+/g, ' ')})`;
}

/**
 * `fetch` for a local `wrangler dev`, which retries — a bounded number of times, logging why —
 * only when the dev runtime restarted under the request (tests, benchmarks). A retried upload
 * may have landed the first time, so callers compare versions with what the upload answered
 * instead of assuming 1.
 */
export function restartTolerantFetch(inner: typeof fetch, options: { attempts?: number; log?: (line: string) => void } = {}): typeof fetch {
  const attempts = options.attempts ?? 6;
  const log = options.log ?? ((line: string) => console.warn(line));
  return async (input, init) => {
    for (let attempt = 1; ; attempt++) {
      let outcome: { error: unknown } | { response: Response };
      try {
        outcome = { response: await inner(input, init) };
      } catch (error) {
        outcome = { error };
      }
      const reason = await restartReason(outcome);
      if (!reason || attempt >= attempts) {
        if ('error' in outcome) throw outcome.error;
        return outcome.response;
      }
      const wait = Math.min(250 * 2 ** (attempt - 1), 4000);
      log(`${init?.method ?? 'GET'} ${String(input instanceof Request ? input.url : input)}: ${reason}; dev runtime restarting? retry ${attempt}/${attempts - 1} in ${wait} ms`);
      await new Promise((r) => setTimeout(r, wait));
    }
  };
}
