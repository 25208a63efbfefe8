import type pg from 'pg';
import { seatUse } from '../../activities/seats';
import type { Config } from '../../domain/config';
import type { AppContext } from '../context';
import { Problem } from '../problem';
import type { ApiRouter } from '../router';
import { kpiQuery, kpiSchema, type Kpis } from '../schemas';

const DEFAULT_WINDOW_MS = 30 * 86_400_000;

export function registerKpiRoutes(api: ApiRouter, ctx: AppContext): void {
  api.route({
    method: 'get',
    path: '/v1/kpis',
    operationId: 'getKpis',
    summary: 'How the approval process performs (security, auditors, admins)',
    description:
      'Times and rates cover requests submitted in [from, to) (default: the last 30 days); the backlog is now. ' +
      'Accepted requests passed validation; routed ones went to approvers (neither auto-approved nor break-glass). ' +
      'For the monthly report of exceptions and escalations, ask for one month: `from=2026-11-01&to=2026-12-01`.',
    tags: ['kpis'],
    query: kpiQuery,
    answers: [{ status: 200, description: 'The figures.', schema: kpiSchema }],
    async handle({ res, query, caller }) {
      if (!caller.seesAll) throw new Problem('forbidden', 'KPIs are open to security, auditors and admins only.');
      const to = query.to ? new Date(query.to) : new Date();
      const from = query.from ? new Date(query.from) : new Date(to.getTime() - DEFAULT_WINDOW_MS);
      res.json(await kpis(ctx.pool, ctx.config, from, to));
    },
  });
}

interface Totals {
  submitted: number;
  rejected: number;
  accepted: number;
  auto_approved: number;
  break_glass: number;
  routed: number;
  escalated: number;
  denied: number;
  timed_out: number;
  first_decision_p50: number | null;
  first_decision_p90: number | null;
  access_p50: number | null;
  access_p90: number | null;
  approve_p50: number | null;
  approve_p90: number | null;
}

async function kpis(pool: pg.Pool, config: Config, from: Date, to: Date): Promise<Kpis> {
  const totals = await pool.query<Totals>(
    `WITH w AS (
       SELECT *,
              status NOT IN ('validating', 'rejected') AS accepted,
              status NOT IN ('validating', 'rejected') AND NOT auto_approved AND NOT break_glass AS routed
         FROM requests
        WHERE submitted_at >= $1 AND submitted_at < $2
     )
     SELECT count(*)::int                                        AS submitted,
            count(*) FILTER (WHERE status = 'rejected')::int     AS rejected,
            count(*) FILTER (WHERE accepted)::int                AS accepted,
            count(*) FILTER (WHERE auto_approved)::int           AS auto_approved,
            count(*) FILTER (WHERE break_glass AND accepted)::int AS break_glass,
            count(*) FILTER (WHERE routed)::int                  AS routed,
            count(*) FILTER (WHERE routed AND escalated)::int    AS escalated,
            count(*) FILTER (WHERE status = 'denied')::int       AS denied,
            count(*) FILTER (WHERE status = 'timed_out')::int    AS timed_out,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_decision_at - submitted_at))
              AS first_decision_p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM first_decision_at - submitted_at))
              AS first_decision_p90,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM approved_at - submitted_at))
              FILTER (WHERE routed) AS approve_p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM approved_at - submitted_at))
              FILTER (WHERE routed) AS approve_p90,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - submitted_at)) AS access_p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - submitted_at)) AS access_p90
       FROM w`,
    [from, to],
  );
  const byResource = await pool.query<{ resource: string; pending: number; oldest: Date }>(
    `SELECT resource, count(*)::int AS pending, min(submitted_at) AS oldest
       FROM requests WHERE status = 'pending_approval'
      GROUP BY resource ORDER BY pending DESC, resource`,
  );
  const byApprover = await pool.query<{ approver: string; pending: number }>(
    `SELECT approver, count(*)::int AS pending
       FROM requests, unnest(pending_approvers) AS approver
      GROUP BY approver ORDER BY pending DESC, approver`,
  );
  const exceptions = await pool.query<{ resource: string; reason: string; count: number }>(
    `SELECT resource, waived->>'code' AS reason, count(*)::int AS count
       FROM requests, jsonb_array_elements(view->'exception'->'waived') AS waived
      WHERE submitted_at >= $1 AND submitted_at < $2
      GROUP BY 1, 2 ORDER BY count DESC, 1, 2`,
    [from, to],
  );
  const escalations = await pool.query<{ resource: string; rule: string; stage: string; count: number }>(
    `SELECT r.resource, s.rule, s.stage, count(*)::int AS count
       FROM requests r
       CROSS JOIN LATERAL (
         SELECT r.view->'plan'->>'rule' AS rule, st->>'name' AS stage, st->>'escalated' AS escalated
           FROM jsonb_array_elements(coalesce(r.view->'stages', '[]'::jsonb)) AS st
         UNION ALL
         SELECT r.view->'extension'->>'rule', st->>'name', st->>'escalated'
           FROM jsonb_array_elements(coalesce(r.view->'extension'->'stages', '[]'::jsonb)) AS st
       ) s
      WHERE r.submitted_at >= $1 AND r.submitted_at < $2 AND s.escalated = 'true'
      GROUP BY 1, 2, 3 ORDER BY count DESC, 1, 2, 3`,
    [from, to],
  );
  const t = totals.rows[0] as Totals;
  const rate = (n: number, of: number) => (of > 0 ? n / of : null);
  const seconds = (v: number | null) => (v === null ? null : Number(v));
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    counts: {
      submitted: t.submitted,
      rejected: t.rejected,
      accepted: t.accepted,
      autoApproved: t.auto_approved,
      breakGlass: t.break_glass,
      routed: t.routed,
      escalated: t.escalated,
      denied: t.denied,
      timedOut: t.timed_out,
    },
    timeToFirstDecision: { p50: seconds(t.first_decision_p50), p90: seconds(t.first_decision_p90) },
    timeToApprove: { p50: seconds(t.approve_p50), p90: seconds(t.approve_p90) },
    timeToAccess: { p50: seconds(t.access_p50), p90: seconds(t.access_p90) },
    rates: {
      autoApproval: rate(t.auto_approved, t.accepted),
      escalation: rate(t.escalated, t.routed),
      denial: rate(t.denied, t.routed),
      timedOut: rate(t.timed_out, t.routed),
    },
    backlog: {
      byResource: byResource.rows.map((r) => ({
        resource: r.resource,
        pending: r.pending,
        oldestSubmittedAt: r.oldest.toISOString(),
      })),
      byApprover: byApprover.rows,
    },
    exceptions: { byResourceAndReason: exceptions.rows },
    escalations: {
      byResourceAndStage: escalations.rows.map((r) => ({ ...r, rule: r.rule ?? 'unknown' })),
    },
    seats: await seatUse(pool, config),
  };
}
