/**
 * Prints a development bearer token: `npm run token -- <userId> [--ttl 8h]`.
 * Signs with GRANTFLOW_DEV_JWT_SECRET (default: the dev stack's secret) for audience OIDC_AUDIENCE (default grantflow).
 */
import { DEV_DEFAULT_SECRET, signDevToken } from '../api/auth';
import { loadConfig } from '../platform/config-files';

const USAGE = 'usage: npm run token -- <userId> [--ttl 8h]';

async function main(argv: string[]): Promise<void> {
  if (process.env.NODE_ENV === 'production') throw new Error('Development tokens are not for production.');
  const args = [...argv];
  let ttl = '8h';
  const at = args.indexOf('--ttl');
  if (at >= 0) {
    const value = args[at + 1];
    if (!value || !/^\d{1,5}(s|m|h|d)$/.test(value))
      throw new Error(`--ttl wants a span such as 30m, 8h or 2d\n${USAGE}`);
    ttl = value;
    args.splice(at, 2);
  }
  const [userId, ...rest] = args;
  if (!userId || rest.length > 0 || userId.startsWith('-')) throw new Error(USAGE);

  // A typo would only show up later as a 401; say so now (the token is still printed, e.g. to test that 401).
  const dir = process.env.GRANTFLOW_CONFIG_DIR ?? 'config/demo';
  try {
    const users = loadConfig(dir).users;
    if (!users.has(userId)) {
      process.stderr.write(`warning: "${userId}" is not in ${dir}/directory.yaml (${[...users.keys()].join(', ')})\n`);
    }
  } catch (err) {
    process.stderr.write(`warning: cannot check the directory in ${dir}: ${(err as Error).message}\n`);
  }
  const token = await signDevToken({
    userId,
    ttl,
    secret: process.env.GRANTFLOW_DEV_JWT_SECRET ?? DEV_DEFAULT_SECRET,
    audience: process.env.OIDC_AUDIENCE ?? 'grantflow',
  });
  process.stdout.write(`${token}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
