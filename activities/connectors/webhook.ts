import { ApplicationFailure } from '@temporalio/common';
import type { GrantSpec } from '../../domain/model';
import { requireEnv, type Connector, type ConnectorConfigOf, type ConnectorDeps } from './connector';
import { SIGNATURE_HEADER, signV1, signV2, V1_SIGNATURE_HEADER } from './webhook-signature';

export type WebhookAction = 'grant' | 'revoke' | 'check';

/** The JSON body of every call; the signature covers exactly these bytes. */
export interface WebhookPayload {
  action: WebhookAction;
  requestId: string;
  entitlement: string;
  beneficiary: string;
  target: string;
  expiresAt: string | null;
}

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

// Statuses that say "not now" rather than "no": worth another attempt.
const RETRYABLE_4XX = new Set([408, 409, 429]);

/**
 * Calls an ITSM / SCIM gateway: a signed JSON POST per grant or revoke, with an idempotency key per request and
 * action so the gateway applies a retried call once. `check` asks the gateway, which answers `{ granted }`.
 */
export function webhookConnector(config: ConnectorConfigOf<'webhook'>, deps: ConnectorDeps): Connector {
  // The URL may carry a token in its query; errors and logs show only where it points.
  const where = (() => {
    const url = new URL(config.url);
    return `${url.origin}${url.pathname}`;
  })();

  async function call(action: WebhookAction, requestId: string, grant: GrantSpec, expiresAt: string | null) {
    const secret = requireEnv(deps.env, config.secretEnv, 'the signing secret of the webhook connector');
    const payload: WebhookPayload = {
      action,
      requestId,
      entitlement: grant.entitlement,
      beneficiary: grant.beneficiary,
      target: grant.target,
      expiresAt,
    };
    const body = JSON.stringify(payload);
    // `check` changes nothing at the target, so it carries no idempotency key (and signs an empty one).
    const key = action === 'check' ? '' : `${requestId}:${action}`;
    // Signed at each attempt: a retried call carries a fresh timestamp, so it is never refused as stale.
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      [SIGNATURE_HEADER]: signV2(secret, Math.floor(Date.now() / 1000), key, body),
    };
    if (key) headers[IDEMPOTENCY_HEADER] = key;
    if (deps.env.GRANTFLOW_WEBHOOK_SIGNATURE_V1 === 'true') headers[V1_SIGNATURE_HEADER] = signV1(secret, body);

    let res: Response;
    try {
      res = await fetch(config.url, {
        method: 'POST',
        headers,
        body,
        // A redirect would resend the signed body to wherever it points.
        redirect: 'manual',
        signal: AbortSignal.timeout(deps.timeoutMs),
      });
    } catch (err) {
      // Duck-typed: fetch's errors may come from another realm (a test sandbox), where instanceof fails.
      const e = err as { name?: unknown; message?: unknown; cause?: { message?: unknown } };
      const reason =
        e.name === 'TimeoutError' ? `no answer within ${deps.timeoutMs} ms` : String(e.cause?.message ?? e.message);
      throw ApplicationFailure.retryable(`Webhook ${action} to ${where} failed: ${reason}.`, 'ConnectorUnavailable');
    }
    const text = await res.text().catch(() => '');
    if (res.ok) {
      deps.log?.info({ action, requestId, url: where, status: res.status }, 'webhook delivered');
      return text;
    }
    const message = `Webhook ${action} to ${where} answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}.`;
    if ((res.status >= 300 && res.status < 500 && !RETRYABLE_4XX.has(res.status)) || res.status < 200) {
      throw ApplicationFailure.nonRetryable(message, 'ConnectorRejected');
    }
    throw ApplicationFailure.retryable(message, 'ConnectorUnavailable');
  }

  return {
    async grant({ requestId, grant, expiresAt }) {
      await call('grant', requestId, grant, expiresAt);
    },
    async revoke({ requestId, grant }) {
      await call('revoke', requestId, grant, null);
    },
    async check({ requestId, grant }) {
      const text = await call('check', requestId, grant, null);
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        answer = undefined;
      }
      const granted = (answer as { granted?: unknown } | undefined)?.granted;
      if (typeof granted !== 'boolean') {
        throw ApplicationFailure.nonRetryable(
          `Webhook check at ${where} must answer {"granted": true|false}.`,
          'ConnectorRejected',
        );
      }
      return granted;
    },
  };
}
