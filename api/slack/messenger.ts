import type pg from 'pg';
import type { RequestView } from '../../workflows/messages';
import type { Logger } from '../../platform/logger';
import { approverMessage } from './blocks';
import type { Slack } from './client';

const BATCH = 50;
// One process at a time brings messages up to date, however many API replicas run.
const LOCK_KEY = 0x5_1ac_0001;

interface Row {
  id: string;
  revision: number;
  view: RequestView;
}

/**
 * Keeps one Slack DM per request and approver in step with the request's projection: posted when a stage opens to
 * the approver, then updated in place (chat.update) at every later revision, so the buttons go away once the
 * approver can no longer decide. Driven by the projection, so the workflow code does not know Slack exists.
 */
export function createSlackMessenger(deps: { pool: pg.Pool; slack: Slack; log: Logger }) {
  const { pool, slack, log } = deps;

  async function syncRequest(row: Row): Promise<void> {
    const { rows: existing } = await pool.query<{ user_id: string; channel: string; ts: string }>(
      'SELECT user_id, channel, ts FROM slack_messages WHERE request_id = $1',
      [row.id],
    );
    const messaged = new Set(existing.map((m) => m.user_id));
    for (const approver of row.view.pendingApprovers) {
      if (messaged.has(approver)) continue;
      const slackUser = await slack.slackUserOf(approver);
      if (!slackUser) {
        log.info({ requestId: row.id, approver }, 'approver has no Slack account; not messaged');
        continue;
      }
      const opened = await slack.web.conversations.open({ users: slackUser });
      const channel = opened.channel?.id;
      if (!channel) throw new Error(`Slack opened no conversation with ${slackUser}.`);
      const posted = await slack.web.chat.postMessage({
        channel,
        ...approverMessage(row.view, approver, slack.settings.portalUrl),
      });
      await pool.query(
        `INSERT INTO slack_messages (request_id, user_id, slack_user, channel, ts) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING`,
        [row.id, approver, slackUser, posted.channel ?? channel, posted.ts],
      );
    }
    for (const m of existing) {
      await slack.web.chat.update({
        channel: m.channel,
        ts: m.ts,
        ...approverMessage(row.view, m.user_id, slack.settings.portalUrl),
      });
    }
    await pool.query(
      `INSERT INTO slack_sync (request_id, revision) VALUES ($1, $2)
       ON CONFLICT (request_id) DO UPDATE SET revision = GREATEST(slack_sync.revision, EXCLUDED.revision)`,
      [row.id, row.revision],
    );
  }

  /** Brings every request whose projection moved since its last sync up to date; how many it handled. */
  async function syncOnce(): Promise<number> {
    const client = await pool.connect();
    try {
      const { rows: lock } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_KEY]);
      if (!lock[0]?.ok) return 0;
      try {
        const { rows } = await client.query<Row>(
          `SELECT r.id, r.revision, r.view FROM requests r LEFT JOIN slack_sync s ON s.request_id = r.id
            WHERE r.view IS NOT NULL AND r.revision > coalesce(s.revision, -1)
              AND (cardinality(r.pending_approvers) > 0 OR s.request_id IS NOT NULL)
            ORDER BY r.updated_at LIMIT $1`,
          [BATCH],
        );
        for (const row of rows) {
          try {
            await syncRequest(row);
          } catch (err) {
            // Left unsynced: the next round tries again.
            log.warn({ err, requestId: row.id }, 'slack sync failed');
          }
        }
        return rows.length;
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
      }
    } finally {
      client.release();
    }
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  return {
    syncOnce,
    start(intervalMs = 1000) {
      timer = setInterval(() => {
        if (running) return; // a slow round is not stacked on
        running = syncOnce()
          .catch((err: unknown) => log.warn({ err }, 'slack sync round failed'))
          .finally(() => (running = undefined));
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
