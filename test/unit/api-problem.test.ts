import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { z } from 'zod';
import {
  errorHandler,
  fieldErrors,
  isPostgresUnavailable,
  isTemporalUnavailable,
  Problem,
  problemTypes,
  refusalProblems,
} from '../../api/problem';
import { refusalTypes } from '../../workflows/messages';

const silent = pino({ level: 'silent' });

/** A one-route app that throws `err`, answered by the API's error handler. */
function throwing(err: unknown) {
  const app = express();
  app.use((req, _res, next) => {
    (req as { id?: string }).id = 'req-123';
    next();
  });
  app.get('/boom', () => {
    throw err;
  });
  app.use(errorHandler(silent));
  return request(app).get('/boom?secret=1');
}

function grpcError(code: number): Error {
  return Object.assign(new Error(`${code} grpc`), { code, details: 'grpc', metadata: {} });
}

describe('refusals', () => {
  it('maps every refusal type the workflow throws to the documented status', () => {
    const statuses = Object.fromEntries(refusalTypes.map((t) => [t, problemTypes[refusalProblems[t]].status]));
    expect(statuses).toEqual({
      SelfApproval: 403,
      NotEligible: 403,
      NotAllowed: 403,
      StageClosed: 409,
      AlreadyDecided: 409,
      InvalidState: 409,
      ExtensionTooLong: 422,
      ExtensionRefused: 409,
      Malformed: 400,
    });
  });
});

describe('the error handler', () => {
  it('sends a Problem as RFC 9457 problem+json with instance and request id', async () => {
    const res = await throwing(
      new Problem('self-approval', 'You cannot decide on a request that you made.', { refusal: 'SelfApproval' }),
    );
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({
      type: 'urn:grantflow:problem:self-approval',
      title: 'You cannot decide on your own request',
      status: 403,
      detail: 'You cannot decide on a request that you made.',
      instance: '/boom',
      requestId: 'req-123',
      refusal: 'SelfApproval',
    });
  });

  it('answers body-parser failures with 413, 400 and 415', async () => {
    expect((await throwing({ type: 'entity.too.large', status: 413, limit: 16384 })).status).toBe(413);
    expect((await throwing({ type: 'entity.parse.failed', status: 400 })).body.type).toBe(
      'urn:grantflow:problem:malformed-json',
    );
    expect((await throwing({ type: 'charset.unsupported', status: 415 })).status).toBe(415);
  });

  it('answers an unreachable Temporal or PostgreSQL with 503 and Retry-After', async () => {
    for (const err of [
      new ServiceError('Failed to query Workflow', { cause: grpcError(14) }),
      new WorkflowUpdateRPCTimeoutOrCancelledError('timeout'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('the database system is shutting down'), { code: '57P03' }),
    ]) {
      const res = await throwing(err);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
    }
  });

  it('answers anything else with 500 and no detail of the failure', async () => {
    const err = new Error('relation "secret_table" does not exist');
    const res = await throwing(err);
    expect(res.status).toBe(500);
    expect(res.text).not.toContain('secret_table');
    expect(res.text).not.toContain('at ');
    expect(res.body.detail).toContain('req-123');
  });
});

describe('classifying failures', () => {
  it('tells Temporal being away from Temporal saying no', () => {
    expect(isTemporalUnavailable(new ServiceError('x', { cause: grpcError(4) }))).toBe(true);
    expect(isTemporalUnavailable(new ServiceError('x', { cause: grpcError(3) }))).toBe(false);
    expect(isTemporalUnavailable(new Error('x'))).toBe(false);
  });

  it('tells PostgreSQL being away from a failing query', () => {
    expect(isPostgresUnavailable(Object.assign(new Error('x'), { code: '08006' }))).toBe(true);
    expect(isPostgresUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isPostgresUnavailable(Object.assign(new Error('x'), { code: '23505' }))).toBe(false);
  });
});

describe('fieldErrors', () => {
  it('names every unknown key and the path of every bad value', () => {
    const schema = z.object({ a: z.string(), nested: z.object({ n: z.number() }).strict() }).strict();
    const result = schema.safeParse({ a: 1, nested: { n: 'x', extra: true }, bogus: 1 });
    expect(result.success).toBe(false);
    const errors = fieldErrors(result.error?.issues ?? []);
    expect(errors.map((e) => e.field).sort()).toEqual(['a', 'bogus', 'nested.extra', 'nested.n']);
    expect(errors.find((e) => e.field === 'bogus')?.message).toBe('is not a known field');
  });
});
