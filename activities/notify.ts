import type pg from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from '../platform/logger';
import { inTransaction } from './transaction';
import type { Notification } from './types';

export interface NotifierDeps {
  pool: pg.Pool;
  log: Logger;
  /** A Slack-compatible incoming webhook; without it notifications go to the log only. */
  webhookUrl?: string;
  timeoutMs?: number;
}

// Slack refuses a section longer than 3000 characters.
const MAX_SECTION = 3000;

/**
 * Sends each notification once per key: the key is claimed in the same transaction that sends, so a failed send
 * rolls the claim back for the retry, and a concurrent duplicate waits for the first and then finds it done.
 * `enqueue` is the outbox half of the same: the row goes in with the caller's transaction (the request's
 * bookkeeping), unsent when a chat webhook is configured, and `deliver` sends it after that commit.
 */
export function createNotifier({ pool, log, webhookUrl, timeoutMs = 10_000 }: NotifierDeps) {
  const logSent = (n: Notification) =>
    log.info(
      { key: n.key, requestId: n.requestId, to: n.to, subject: n.subject, text: n.text, chat: Boolean(webhookUrl) },
      'notification sent',
    );

  async function notify(n: Notification): Promise<void> {
    await inTransaction(pool, async (client) => {
      const { rowCount } = await client.query(
        `INSERT INTO notifications (key, request_id, recipients, subject) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO NOTHING`,
        [n.key, n.requestId, n.to, n.subject],
      );
      if (rowCount === 0) {
        log.debug({ key: n.key, requestId: n.requestId }, 'notification already sent');
        return;
      }
      if (webhookUrl) await postToChat(webhookUrl, n, timeoutMs);
      logSent(n);
    });
  }

  /**
   * Writes the notification to the outbox in the caller's transaction, once per key. Without a chat webhook the log
   * is the only channel, so it is sent as it is written (the log line follows in `deliver`).
   */
  async function enqueue(client: pg.PoolClient, n: Notification): Promise<void> {
    await client.query(
      `INSERT INTO notifications (key, request_id, recipients, subject, body, sent_at)
       VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::boolean THEN NULL ELSE now() END)
       ON CONFLICT (key) DO NOTHING`,
      [n.key, n.requestId, n.to, n.subject, n.text, Boolean(webhookUrl)],
    );
  }

  /**
   * Sends an outbox row not sent yet: claimed in the transaction that sends (as `notify`), so a failed send is
   * retried and a concurrent duplicate finds it sent.
   */
  async function deliver(n: Notification): Promise<void> {
    if (!webhookUrl) return logSent(n);
    await inTransaction(pool, async (client) => {
      const { rowCount } = await client.query(
        'SELECT 1 FROM notifications WHERE key = $1 AND sent_at IS NULL FOR UPDATE',
        [n.key],
      );
      if (rowCount === 0) return;
      await postToChat(webhookUrl, n, timeoutMs);
      await client.query('UPDATE notifications SET sent_at = now() WHERE key = $1', [n.key]);
      logSent(n);
    });
  }

  return { notify, enqueue, deliver };
}

export type Notifier = ReturnType<typeof createNotifier>;

async function postToChat(url: string, n: Notification, timeoutMs: number): Promise<void> {
  const section = truncate(`*${escapeMrkdwn(n.subject)}*\n${escapeMrkdwn(n.text)}`, MAX_SECTION);
  const body = {
    text: truncate(escapeMrkdwn(`${n.subject}: ${n.text}`), MAX_SECTION),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: section } },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: escapeMrkdwn(`To ${n.to.join(', ')} · request ${n.requestId}`) }],
      },
    ],
  };
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw ApplicationFailure.retryable(
      `The chat webhook did not take notification ${n.key}: ${(err as Error).message}.`,
      'NotifierUnavailable',
    );
  }
  await res.body?.cancel();
  if (!res.ok) {
    throw ApplicationFailure.retryable(
      `The chat webhook answered ${res.status} to notification ${n.key}.`,
      'NotifierUnavailable',
    );
  }
}

/** Requesters write justifications: `<!channel>` or `<https://…|click>` in one must stay plain text. */
function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
