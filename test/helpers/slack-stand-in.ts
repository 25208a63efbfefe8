/**
 * A stand-in for Slack on a local port: it answers the Web API methods grantflow calls, records every call, and signs
 * interactive requests the way Slack does (v0 HMAC-SHA256 over `v0:<timestamp>:<body>`). No network.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ApiCall {
  method: string;
  args: Record<string, unknown>;
  /** What the stand-in answered (e.g. the ts of a posted message). */
  result: Record<string, unknown>;
}

export interface SlackStandIn {
  /** Base URL for the WebClient's slackApiUrl. */
  apiUrl: string;
  calls: ApiCall[];
  /** Slack user ids by email: who Slack knows. */
  users: Map<string, string>;
  /** A signed interactive request for a click by `slackUser` on `actionId` with `value`. */
  click(opts: { slackUser: string; actionId: string; value: string; secret: string; timestamp?: number }): {
    body: string;
    headers: Record<string, string>;
  };
  close(): Promise<void>;
}

export async function startSlackStandIn(): Promise<SlackStandIn> {
  const calls: ApiCall[] = [];
  const users = new Map<string, string>();
  let ts = 1_700_000_000;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? '';
      const text = Buffer.concat(chunks).toString('utf8');
      const args: Record<string, unknown> = req.headers['content-type']?.includes('json')
        ? (JSON.parse(text || '{}') as Record<string, unknown>)
        : Object.fromEntries(new URLSearchParams(text));
      for (const key of ['blocks', 'attachments']) {
        if (typeof args[key] === 'string') args[key] = JSON.parse(args[key] as string);
      }
      const result = answer(method, args);
      calls.push({ method, args, result });
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(result));
    });
  });
  const answer = (method: string, args: Record<string, unknown>): Record<string, unknown> => {
    switch (method) {
      case 'users.lookupByEmail': {
        const id = users.get(String(args.email));
        return id ? { ok: true, user: { id } } : { ok: false, error: 'users_not_found' };
      }
      case 'users.info': {
        const email = [...users].find(([, id]) => id === args.user)?.[0];
        return email
          ? { ok: true, user: { id: args.user, name: 'display-name-is-ignored', profile: { email } } }
          : { ok: false, error: 'user_not_found' };
      }
      case 'conversations.open':
        return { ok: true, channel: { id: `D${String(args.users)}` } };
      case 'chat.postMessage':
        ts += 1;
        return { ok: true, channel: args.channel, ts: `${ts}.000100` };
      case 'chat.update':
        return { ok: true, channel: args.channel, ts: args.ts };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    calls,
    users,
    click({ slackUser, actionId, value, secret, timestamp = Math.floor(Date.now() / 1000) }) {
      const payload = {
        type: 'block_actions',
        user: { id: slackUser, username: 'someone-else', name: 'someone-else' },
        trigger_id: `${timestamp}.${Math.random().toString(36).slice(2)}`,
        actions: [{ action_id: actionId, value, type: 'button' }],
      };
      const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
      const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
      return {
        body,
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'X-Slack-Request-Timestamp': String(timestamp),
          'X-Slack-Signature': signature,
        },
      };
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
