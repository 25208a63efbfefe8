import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { inTransaction } from '../../activities/transaction';

/** Identity providers' bearer tokens for /scim/v2; separate from people's tokens, kept only as SHA-256. */
export interface ScimTokens {
  /** A new token for the provider; its earlier tokens stay valid (for a changeover). */
  issue(provider: string): Promise<string>;
  /** A new token for the provider, and every earlier one revoked, in one step. */
  rotate(provider: string): Promise<string>;
  revokeAll(provider: string): Promise<number>;
  /** The provider a presented token belongs to, if it is live. */
  verify(token: string): Promise<string | undefined>;
}

export const PROVIDER = /^[a-z0-9][a-z0-9._-]{0,63}$/;

// The token is 256 random bits, so a plain hash is enough: there is no small space to search as with passwords.
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function createScimTokens(pool: pg.Pool): ScimTokens {
  const add = async (db: pg.Pool | pg.PoolClient, provider: string) => {
    if (!PROVIDER.test(provider)) throw new Error(`"${provider}" is not a provider name (lower-case letters, digits).`);
    const token = `gfscim_${randomBytes(32).toString('base64url')}`;
    await db.query('INSERT INTO scim_tokens (token_hash, provider) VALUES ($1, $2)', [hashToken(token), provider]);
    return token;
  };
  return {
    issue: (provider) => add(pool, provider),
    rotate: (provider) =>
      inTransaction(pool, async (client) => {
        await client.query('UPDATE scim_tokens SET revoked_at = now() WHERE provider = $1 AND revoked_at IS NULL', [
          provider,
        ]);
        return add(client, provider);
      }),
    async revokeAll(provider) {
      const { rowCount } = await pool.query(
        'UPDATE scim_tokens SET revoked_at = now() WHERE provider = $1 AND revoked_at IS NULL',
        [provider],
      );
      return rowCount ?? 0;
    },
    async verify(token) {
      const { rows } = await pool.query<{ provider: string }>(
        'SELECT provider FROM scim_tokens WHERE token_hash = $1 AND revoked_at IS NULL',
        [hashToken(token)],
      );
      return rows[0]?.provider;
    },
  };
}
