import { z } from 'zod';
import type { AppContext } from '../context';
import type { ApiRouter } from '../router';
import { readinessSchema } from '../schemas';

const CHECK_TIMEOUT_MS = 2000;

export function registerOpsRoutes(api: ApiRouter, ctx: AppContext, openApi: () => unknown): void {
  api.route({
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    summary: 'The process is up',
    tags: ['ops'],
    public: true,
    answers: [{ status: 200, description: 'Alive.', schema: z.object({ status: z.literal('ok') }) }],
    async handle({ res }) {
      res.json({ status: 'ok' });
    },
  });

  api.route({
    method: 'get',
    path: '/readyz',
    operationId: 'ready',
    summary: 'PostgreSQL and Temporal answer; 503 otherwise',
    tags: ['ops'],
    public: true,
    answers: [
      { status: 200, description: 'Ready.', schema: readinessSchema },
      { status: 503, description: 'Not ready; the failing check is named.', schema: readinessSchema },
    ],
    async handle({ res }) {
      const [postgres, temporal] = await Promise.all([
        check(() => ctx.pool.query('SELECT 1')),
        check(() =>
          ctx.client.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () =>
            ctx.client.workflowService.describeNamespace({ namespace: ctx.client.options.namespace }),
          ),
        ),
      ]);
      const ready = postgres === 'ok' && temporal === 'ok';
      if (!ready) res.setHeader('Retry-After', '5');
      res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks: { postgres, temporal } });
    },
  });

  api.route({
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics',
    tags: ['ops'],
    public: true,
    answers: [{ status: 200, description: 'The exposition format.', schema: z.string(), contentType: 'text/plain' }],
    async handle({ res }) {
      res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
    },
  });

  api.route({
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApi',
    summary: 'This document',
    tags: ['ops'],
    public: true,
    answers: [{ status: 200, description: 'OpenAPI 3.1.', schema: z.record(z.string(), z.unknown()) }],
    async handle({ res }) {
      res.json(openApi());
    },
  });
}

async function check(probe: () => Promise<unknown>): Promise<'ok' | 'failed'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'failed'>((resolve) => {
    timer = setTimeout(() => resolve('failed'), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([probe().then(() => 'ok' as const), timeout]);
  } catch {
    return 'failed';
  } finally {
    clearTimeout(timer);
  }
}
