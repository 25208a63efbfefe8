import pg from 'pg';
import pino from 'pino';
import request from 'supertest';
import type { Express } from 'express';
import type { Client } from '@temporalio/client';
import { validate } from '@readme/openapi-parser';
import { createApp } from '../../api/app';
import { testAuditSettings } from '../helpers/audit-settings';
import { devAuthenticator } from '../../api/auth';
import { problemTypes } from '../../api/problem';
import { demoConfig } from './demo-config';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every method and path Express will answer, found by walking the app's router stack. */
function expressRoutes(app: Express): string[] {
  const walk = (stack: Layer[]): string[] =>
    stack.flatMap((layer) => {
      if (layer.route) {
        const path = layer.route.path.replace(/:(\w+)/g, '{$1}');
        return Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${path}`);
      }
      return layer.handle?.stack ? walk(layer.handle.stack) : [];
    });
  return walk((app as unknown as { router: { stack: Layer[] } }).router.stack).sort();
}

describe('the OpenAPI document', () => {
  const app = createApp({
    client: {} as Client,
    pool: new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' }),
    config: demoConfig(),
    auth: devAuthenticator({ secret: 'x'.repeat(32), audience: 'grantflow' }),
    log: pino({ level: 'silent' }),
    taskQueue: 'unused',
    auditSettings: testAuditSettings(),
  });
  let doc: {
    openapi: string;
    paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
  };

  beforeAll(async () => {
    const res = await request(app).get('/openapi.json');
    expect(res.status).toBe(200);
    doc = res.body;
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    // validate() dereferences in place: give it a copy.
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
  });

  it('documents every route the app answers, and nothing else', () => {
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(expressRoutes(app));
    expect(documented).toEqual(
      expect.arrayContaining([
        'POST /v1/requests',
        'POST /v1/requests/preview',
        'GET /v1/requests/{id}',
        'GET /v1/requests',
        'GET /v1/approvals',
        'POST /v1/requests/{id}/decisions',
        'POST /v1/requests/{id}/cancel',
        'POST /v1/requests/{id}/revoke',
        'POST /v1/requests/{id}/extend',
        'POST /v1/requests/{id}/review',
        'POST /v1/requests/{id}/fulfil',
        'GET /v1/catalog',
        'GET /v1/audit',
        'GET /v1/audit/export',
        'GET /v1/audit/verify',
        'POST /v1/audit/checkpoints',
        'GET /v1/audit/checkpoints/key',
        'GET /v1/kpis',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'GET /openapi.json',
      ]),
    );
  });

  it('requires a bearer token on /v1 and documents the problems each operation answers', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const op of Object.values(ops)) {
        expect(op.security !== undefined).toBe(path.startsWith('/v1/'));
        if (path.startsWith('/v1/')) expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '503']));
      }
    }
    const decide = doc.paths['/v1/requests/{id}/decisions']?.post;
    expect(Object.keys(decide?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400', '403', '404', '409']));
  });

  it('describes the submission body with the domain schema, strictly', () => {
    const schemas = (doc as unknown as { components: { schemas: Record<string, Record<string, unknown>> } }).components
      .schemas;
    expect(schemas.RequestInput).toMatchObject({
      type: 'object',
      required: ['entitlement', 'justification'],
      additionalProperties: false,
    });
    expect(Object.keys(schemas)).toEqual(expect.arrayContaining(['Problem', 'Request', 'Preview', 'Kpis']));
  });

  it('names a problem type for every status it documents', () => {
    const statuses = new Set(Object.values(problemTypes).map((p) => String(p.status)));
    for (const ops of Object.values(doc.paths)) {
      for (const op of Object.values(ops)) {
        for (const status of Object.keys(op.responses).filter((s) => Number(s) >= 400)) {
          expect(statuses).toContain(status);
        }
      }
    }
  });
});
