/**
 * The skeleton's HTTP front: JSON in, the API's own workflow gateway out, and nothing else (no token, no
 * PostgreSQL, no policy). A submission answers once the workflow has left `validating`, as the API's does.
 */
import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import type { Client } from '@temporalio/client';
import { createWorkflowGateway } from '../../api/workflows';
import type { AccessRequestArgs } from '../../workflows/messages';
import { decideUpdate } from './messages';

// The API's submit route waits the same time.
const SUBMIT_WAIT_MS = 3000;

export function createSkeletonApp(client: Client, taskQueue: string): Express {
  const gateway = createWorkflowGateway(client, taskQueue);
  const app = express();
  app.use(express.json());

  app.post('/requests', async (req, res) => {
    const body = req.body as { requester: string; entitlement: string };
    const args: AccessRequestArgs = {
      requestId: `skel-${randomUUID()}`,
      requester: body.requester,
      input: { entitlement: body.entitlement, justification: 'bench', fields: {}, breakGlass: false },
      submittedAt: new Date().toISOString(),
    };
    await gateway.start(args);
    const view = await gateway.waitFor(args.requestId, (v) => v.status !== 'validating', SUBMIT_WAIT_MS);
    res.status(201).json(view ?? { id: args.requestId, status: 'validating' });
  });

  app.post('/requests/:id/decisions', async (req, res) => {
    const body = req.body as { approver: string; decision: 'approve' | 'deny' };
    const result = await gateway.update(req.params.id, decideUpdate, body, randomUUID());
    res.json(result);
  });

  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err instanceof Error ? err.message : String(err) });
  });
  return app;
}
