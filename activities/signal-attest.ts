import { createHash } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type pg from 'pg';
import { SYSTEM_ACTOR } from '../domain/model';
import type { Logger } from '../platform/logger';
import { workflowIdFor } from '../workflows/messages';
import type { AuditEventInput } from './types';

/**
 * Signals reach a request's workflow from whoever can reach the Temporal frontend (an operator's CLI or the
 * Temporal UI): the API sends updates only. The workflow records each signal with the person its payload names
 * (`via: signal`), but it cannot see who sent it. The history can: `WorkflowExecutionSignaled.identity` is the
 * sending client's identity. This reads it for every request with a signal in the trail and appends one
 * `signal_attested` event per signal in the history (its event id is the run and the history event, so a second
 * pass adds nothing), naming the client identity beside the person the payload claims.
 */
export interface AttestDeps {
  pool: pg.Pool;
  client: Client;
  log: Logger;
  recordAudit(event: AuditEventInput): Promise<void>;
}

export interface AttestReport {
  /** Audit sequence numbers up to which every `via: signal` event has been attested. */
  through: number;
  requests: number;
  attested: number;
  /** Requests whose workflow Temporal no longer has (past retention): audited `signal_unattested`, once. */
  gone: string[];
  /** The request whose history could not be read (Temporal unreachable): this pass stopped there, the next retries. */
  stoppedAt?: string;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The cursor survives restarts without a table of its own: each attestation names the trail event it answers. */
async function cursor(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string | null }>(
    `SELECT max((data->>'sourceSeq')::bigint)::text AS n FROM audit_events WHERE action = 'signal_attested'`,
  );
  return Number(rows[0]?.n ?? 0);
}

export async function attestSignals(deps: AttestDeps, opts: { batch?: number } = {}): Promise<AttestReport> {
  const after = await cursor(deps.pool);
  const { rows } = await deps.pool.query<{ request_id: string; seq: string }>(
    `SELECT request_id, max(seq)::text AS seq FROM audit_events
      WHERE seq > $1 AND data->>'via' = 'signal' AND request_id IS NOT NULL
      GROUP BY request_id ORDER BY max(seq) LIMIT $2`,
    [after, opts.batch ?? 200],
  );
  const report: AttestReport = { through: after, requests: rows.length, attested: 0, gone: [] };
  // In order of each request's newest signal event: the cursor (the newest attested one) never passes a request
  // whose signals are not attested yet.
  for (const row of rows) {
    const sourceSeq = Number(row.seq);
    try {
      report.attested += await attestRequest(deps, row.request_id, sourceSeq);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        deps.log.warn({ requestId: row.request_id, err: String(err) }, 'could not read the history to attest a signal');
        report.stoppedAt = row.request_id;
        break;
      }
      report.gone.push(row.request_id);
      await deps.recordAudit({
        eventId: `${row.request_id}:signal-unattested:${sourceSeq}`,
        requestId: row.request_id,
        actor: SYSTEM_ACTOR,
        action: 'signal_attested',
        at: new Date().toISOString(),
        data: { unattested: true, reason: 'the workflow is no longer in Temporal (past retention)', sourceSeq },
      });
    }
    report.through = sourceSeq;
  }
  return report;
}

async function attestRequest(deps: AttestDeps, requestId: string, sourceSeq: number): Promise<number> {
  const workflowId = workflowIdFor(requestId);
  const runs: string[] = [];
  for await (const run of deps.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(run.runId);
  // Visibility can lag a just-started run; the workflow's current run is always readable.
  if (runs.length === 0) runs.push((await deps.client.workflow.getHandle(workflowId).describe()).runId);
  let attested = 0;
  for (const runId of runs) {
    const history = await deps.client.workflow.getHandle(workflowId, runId).fetchHistory();
    for (const event of history.events ?? []) {
      const signalled = event.workflowExecutionSignaledEventAttributes;
      if (!signalled) continue;
      await deps.recordAudit(attestation(requestId, runId, event, signalled, sourceSeq));
      attested++;
    }
  }
  return attested;
}

function attestation(
  requestId: string,
  runId: string,
  event: HistoryEvent,
  signalled: temporal.api.history.v1.IWorkflowExecutionSignaledEventAttributes,
  sourceSeq: number,
): AuditEventInput {
  const payload = signalled.input?.payloads?.[0];
  let claimed: unknown;
  try {
    claimed = payload ? defaultPayloadConverter.fromPayload(payload) : undefined;
  } catch {
    claimed = undefined;
  }
  const named = claimed && typeof claimed === 'object' ? (claimed as { by?: unknown; approver?: unknown }) : {};
  const by = named.by ?? named.approver;
  const seconds = Number(event.eventTime?.seconds ?? 0);
  const nanos = Number(event.eventTime?.nanos ?? 0);
  return {
    eventId: `${requestId}:signal:${runId}:${String(event.eventId)}`,
    requestId,
    actor: SYSTEM_ACTOR,
    action: 'signal_attested',
    at: new Date(seconds * 1000 + Math.floor(nanos / 1e6)).toISOString(),
    data: {
      signal: signalled.signalName ?? '',
      // Who sent it, as the Temporal server recorded it: the operator's client, whatever the payload says.
      clientIdentity: signalled.identity ?? '',
      ...(typeof by === 'string' && { claimedBy: by }),
      runId,
      historyEventId: Number(event.eventId),
      payloadSha256: payload?.data ? createHash('sha256').update(payload.data).digest('hex') : null,
      sourceSeq,
    },
  };
}

/** Attests every `everyMs` (0: never) in the worker; returns a function that stops it. */
export function attestSignalsEvery(everyMs: number, deps: AttestDeps): () => void {
  if (everyMs <= 0) return () => undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    attestSignals(deps)
      .then((r) => {
        if (r.attested) deps.log.info({ ...r }, 'signals attested with their Temporal client identity');
      })
      .catch((err: unknown) => deps.log.error({ err: String(err) }, 'signal attestation failed; trying again later'))
      .finally(() => (running = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
