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
