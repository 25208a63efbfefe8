import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** One registry per app, so several apps in one process (tests) never register a metric twice. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpDuration = new Histogram({
    name: 'grantflow_http_request_duration_seconds',
    help: 'HTTP requests by route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'grantflow_api_refusals_total',
    help: 'Messages the workflow refused, by message and refusal type.',
    labelNames: ['message', 'refusal'] as const,
    registers: [registry],
  });

  /** Times every request; the route label is the template (never the raw path, whose ids would explode it). */
  const middleware: RequestHandler = (req, res, next) => {
    const end = httpDuration.startTimer({ method: req.method });
    res.on('finish', () => end({ route: res.locals.route ?? 'unmatched', status: String(res.statusCode) }));
    next();
  };

  return { registry, middleware, refusals };
}
export type Metrics = ReturnType<typeof createMetrics>;
