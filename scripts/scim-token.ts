/**
 * Issues the bearer token an identity provider uses on /scim/v2: `npm run scim:token -- <provider> [--rotate]`.
 * Only its SHA-256 is stored, so the token is printed once. `--rotate` revokes the provider's earlier tokens in the
 * same step; without it they stay valid, for a changeover. `--revoke` revokes them all and prints nothing.
 */
import { createScimTokens, PROVIDER } from '../api/scim/tokens';
import { createPool, migrate } from '../platform/db';

const USAGE = 'usage: npm run scim:token -- <provider> [--rotate | --revoke]   (needs DATABASE_URL)';

async function main(argv: string[]): Promise<void> {
  const [provider, flag, ...rest] = argv;
  if (!provider || !PROVIDER.test(provider) || rest.length > 0 || (flag && !['--rotate', '--revoke'].includes(flag))) {
    throw new Error(USAGE);
  }
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error(`DATABASE_URL is not set.\n${USAGE}`);
  await migrate(url);
  const pool = createPool(url, 1);
  try {
    const tokens = createScimTokens(pool);
    if (flag === '--revoke') {
      process.stderr.write(`revoked ${await tokens.revokeAll(provider)} token(s) of ${provider}\n`);
      return;
    }
    const token = flag === '--rotate' ? await tokens.rotate(provider) : await tokens.issue(provider);
    process.stdout.write(`${token}\n`);
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
