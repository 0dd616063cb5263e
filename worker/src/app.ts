/** The Hono app: routes under /v1, one error handler mapping every failure to a JSON body. */
import type { EdgeApiBody as Body } from 'edgehead';
import { HEAD_FORMAT_VERSION } from 'edgehead/heads';
import { Hono } from 'hono';
import { corsByDeployment } from './cors.js';
import { errorBody, handleError } from './errors.js';
import { SERVICE_VERSION, type AppEnv } from './env.js';
import { limitsOf } from './limits.js';
import { MAX_LABEL_LENGTH } from './contract.js';
import { openapiDocument } from './openapi.js';
import { admin } from './routes/admin.js';
import { adminBackbones, backbones } from './routes/backbones.js';
import { heads } from './routes/heads.js';
import { keys } from './routes/keys.js';

export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('/v1/*', corsByDeployment);
  app.get('/v1/health', (c) => c.json({ ok: true } satisfies Body<'/v1/health', 'get', 200>));
  app.get('/v1/version', (c) => {
    const { maxBodyBytes, maxBatch } = limitsOf(c.env);
    const limits = { maxBodyBytes, maxBatch, maxLabelLength: MAX_LABEL_LENGTH };
    return c.json({ service: 'edgehead', version: SERVICE_VERSION, headFormatVersion: HEAD_FORMAT_VERSION, limits } satisfies Body<'/v1/version', 'get', 200>);
  });
  app.get('/v1/openapi.json', (c) => c.json(openapiDocument()));
  // Before /v1/admin's catch-all middleware: both require the admin token.
  app.route('/v1/admin/backbones', adminBackbones);
  app.route('/v1/admin', admin);
  app.route('/v1/backbones', backbones);
  app.route('/v1/heads', heads);
  app.route('/v1/keys', keys);
  app.notFound((c) => c.json(errorBody('NOT_FOUND', `No route ${c.req.method} ${new URL(c.req.url).pathname}; see /v1/openapi.json.`), 404));
  app.onError(handleError);
  return app;
}
