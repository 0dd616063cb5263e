/** The backbones this deployment runs for raw-input calls, and (admin) uploading their files. */
import type { EdgeApiBody as Body } from 'edgehead';
import { Hono } from 'hono';
import { requireAdmin, requireKey } from '../auth.js';
import type { AppEnv } from '../env.js';
import { readBodyBytes } from '../request.js';
import { putBackboneFile, storedFiles } from '../backbones/files.js';
import { isLoaded } from '../backbones/load.js';
import { servedIds, servedManifest } from '../backbones/served.js';

export const backbones = new Hono<AppEnv>();

backbones.get('/', requireKey('read'), async (c) => {
  const list = await Promise.all(
    servedIds(c.env).map(async (id) => {
      const manifest = servedManifest(c.env, id);
      const { missing } = await storedFiles(c.env.BLOBS, manifest);
      return {
        id,
        name: manifest.name,
        modality: manifest.modality,
        dim: manifest.output.dim ?? 0,
        license: manifest.license.name,
        ready: missing.length === 0,
        missingFiles: missing,
        loadedInThisIsolate: isLoaded(id),
      };
    }),
  );
  return c.json({ backbones: list } satisfies Body<'/v1/backbones', 'get', 200>);
});

/** Admin: store one of a served backbone's files (checked against its manifest's sha256 and size). */
export const adminBackbones = new Hono<AppEnv>();
adminBackbones.use('*', requireAdmin);

adminBackbones.put('/:id/files/:name', async (c) => {
  const manifest = servedManifest(c.env, c.req.param('id'));
  const name = c.req.param('name');
  const stored = await putBackboneFile(c.env.BLOBS, manifest, name, await readBodyBytes(c));
  const { missing } = await storedFiles(c.env.BLOBS, manifest);
  return c.json({ backbone: manifest.id, file: name, ...stored, ready: missing.length === 0, missingFiles: missing } satisfies Body<'/v1/admin/backbones/{id}/files/{name}', 'put', 201>, 201);
});
