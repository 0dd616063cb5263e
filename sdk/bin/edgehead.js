#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm ci` via prepare).
// A reader that closes the pipe early (`edgehead models list | head -1`) is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// onnxruntime-node 1.30 crashes (SIGSEGV in InferenceSession.create) once the process command
// line reaches about 32 KB — e.g. 2,000 photos named on the command line. Past a safe size the
// launcher runs the CLI in a child whose arguments come through a temporary file instead.
const ARGS_FILE = 'EDGEHEAD_ARGS_FILE';
const MAX_COMMAND_LINE = 16 * 1024;

async function argumentsToRun() {
  const file = process.env[ARGS_FILE];
  if (!file) return process.argv.slice(2);
  const { readFileSync, rmSync } = await import('node:fs');
  delete process.env[ARGS_FILE];
  const args = JSON.parse(readFileSync(file, 'utf8'));
  rmSync(file, { force: true });
  return args;
}

async function relaunchWithArgsFile(args) {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'edgehead-args-'));
  const file = join(dir, 'args.json');
  writeFileSync(file, JSON.stringify(args));
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]], { stdio: 'inherit', env: { ...process.env, [ARGS_FILE]: file } });
  // Ctrl-C reaches the child through the terminal's process group; other signals are forwarded.
  process.on('SIGINT', () => {});
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    rmSync(dir, { recursive: true, force: true });
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

const commandLineBytes = process.argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
if (!process.env[ARGS_FILE] && commandLineBytes > MAX_COMMAND_LINE) {
  await relaunchWithArgsFile(process.argv.slice(2));
} else {
  const args = await argumentsToRun();
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(args);
}
