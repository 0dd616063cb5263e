/**
 * A bounded HTTP load generator, run as its own process by worker.bench.ts: `concurrency`
 * loops send the same request to a loopback URL until `seconds` pass or `maxRequests` are
 * sent, then print throughput and latency percentiles as JSON.
 */
const [url, method, bodyFile, headerJson, concurrencyArg, secondsArg, maxArg] = process.argv.slice(2);
if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error('load tests stay on 127.0.0.1');
const { readFileSync } = await import('node:fs');
const body = bodyFile && bodyFile !== '-' ? readFileSync(bodyFile, 'utf8') : undefined;
const headers = JSON.parse(headerJson) as Record<string, string>;
const concurrency = Number(concurrencyArg);
const deadline = performance.now() + Number(secondsArg) * 1000;
const maxRequests = Number(maxArg);
const latencies: number[] = [];
let sent = 0;
let errors = 0;
const statuses: Record<number, number> = {};
/** Error codes of non-2xx answers: the app's `error.code`, or `not-app` for a body that is not the app's (a proxy's, a reset runtime's). */
const codes: Record<string, number> = {};
const started = performance.now();

async function loop(): Promise<void> {
  while (performance.now() < deadline && sent < maxRequests) {
    sent++;
    const t = performance.now();
    try {
      const res = await fetch(url, { method, headers, body });
      const text = await res.text();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (!res.ok) {
        errors++;
        let code = 'not-app';
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? code;
        } catch {
          // not JSON
        }
        codes[code] = (codes[code] ?? 0) + 1;
      }
    } catch {
      errors++;
      codes['connection-error'] = (codes['connection-error'] ?? 0) + 1;
    }
    latencies.push(performance.now() - t);
  }
}

await Promise.all(Array.from({ length: concurrency }, loop));
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
console.log(JSON.stringify({ requests: latencies.length, errors, statuses, codes, seconds: elapsed, rps: latencies.length / elapsed, p50: pct(50), p99: pct(99) }));
