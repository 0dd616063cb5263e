/**
 * The edgehead edge worker. For now only a health route; heads storage and classification come
 * with the worker issue (Hono app, D1/R2 bindings, tenants).
 * @module
 */
export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/v1/health') return Response.json({ ok: true, service: 'edgehead' });
    return Response.json({ error: { code: 'NOT_FOUND', message: `No route for ${url.pathname}; see /v1/health.` } }, { status: 404 });
  },
};
