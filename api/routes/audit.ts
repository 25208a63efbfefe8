import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { Caller } from '../caller';
import type { AppContext } from '../context';
import { Problem } from '../problem';
import type { ApiRouter } from '../router';
import {
  auditExportQuery,
  auditExportSchema,
  auditPageSchema,
  auditQuery,
  auditVerifySchema,
  checkpointKeySchema,
  checkpointSchema,
} from '../schemas';

export function registerAuditRoutes(api: ApiRouter, ctx: AppContext): void {
  const { audit } = ctx;

  api.route({
    method: 'get',
    path: '/v1/audit',
    operationId: 'listAuditEvents',
    summary: 'Audit events in chain order (security and auditors)',
    tags: ['audit'],
    query: auditQuery,
    answers: [{ status: 200, description: 'One page.', schema: auditPageSchema }],
    async handle({ res, query, caller }) {
      requireAuditor(caller);
      res.json(await audit.list(query));
    },
  });

  api.route({
    method: 'get',
    path: '/v1/audit/export',
    operationId: 'exportAuditEvents',
    summary: 'Every matching audit event as one JSON array or CSV file (security and auditors)',
    description:
      'Streamed page by page. The export itself is recorded in the trail, then a checkpoint is signed: the JSON ' +
      'export holds every event up to it and the checkpoint, so `npm run audit:verify -- export.json` checks it ' +
      'offline with the public key alone.',
    tags: ['audit'],
    query: auditExportQuery,
    answers: [
      { status: 200, description: 'The events (format=json).', schema: auditExportSchema },
      { status: 200, description: 'The events (format=csv).', schema: z.string(), contentType: 'text/csv' },
    ],
    async handle({ res, query, caller }) {
      requireAuditor(caller);
      const { format, ...filter } = query;
      // Who took evidence out, and which, is evidence too; writing it first also proves PostgreSQL is there.
      await audit.append([
        {
          eventId: `api:audit-export:${randomUUID()}`,
          actor: caller.id,
          action: 'audit_exported',
          at: new Date().toISOString(),
          data: { format, ...filter },
        },
      ]);
      const checkpoint = format === 'json' ? await audit.checkpoints?.checkpoint() : undefined;
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      res
        .status(200)
        .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
        .attachment(`grantflow-audit-${stamp}.${format}`);
      await pipeline(
        Readable.from(format === 'csv' ? audit.exportCsv(filter) : audit.exportJson(filter, checkpoint)),
        res,
      );
    },
  });

  api.route({
    method: 'get',
    path: '/v1/audit/verify',
    operationId: 'verifyAuditChain',
    summary: 'Verify the keyed chain against the newest signed checkpoint and name every break (security and auditors)',
    tags: ['audit'],
    answers: [{ status: 200, description: 'The verdict (ok false names the break).', schema: auditVerifySchema }],
    async handle({ res, caller }) {
      requireAuditor(caller);
      res.json(await audit.verify());
    },
  });

  api.route({
    method: 'post',
    path: '/v1/audit/checkpoints',
    operationId: 'writeAuditCheckpoint',
    summary: 'Sign the chain head now and write it to the checkpoint sink (security and auditors)',
    tags: ['audit'],
    limited: true,
    answers: [{ status: 201, description: 'The checkpoint written.', schema: checkpointSchema }],
    problems: [409],
    async handle({ res, caller }) {
      requireAuditor(caller);
      const checkpoint = await audit.checkpoints?.checkpoint();
      if (!checkpoint) throw new Problem('invalid-state', 'The audit trail is empty: there is no head to sign yet.');
      res.status(201).json(checkpoint);
    },
  });

  api.route({
    method: 'get',
    path: '/v1/audit/checkpoints/key',
    operationId: 'getAuditCheckpointKey',
    summary: 'The Ed25519 public key that verifies audit checkpoints (any authenticated caller)',
    description:
      'Not secret, but auditors should pin it out of band: a key fetched from the system under audit proves little.',
    tags: ['audit'],
    answers: [{ status: 200, description: 'The public key (PEM and JWK) and its id.', schema: checkpointKeySchema }],
    problems: [404],
    async handle({ res }) {
      if (!audit.checkpoints) throw new Problem('not-found', 'This deployment signs no audit checkpoints.');
      res.json(audit.checkpoints.publicKey());
    },
  });
}

function requireAuditor(caller: Caller): void {
  if (!caller.auditor) throw new Problem('forbidden', 'The audit trail is open to security and auditors only.');
}
