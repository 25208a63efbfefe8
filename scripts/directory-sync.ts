/**
 * An on-demand LDAP sync: `npm run directory:sync -- [--dry-run]`, or `--confirm <syncId> --by <userId>` for a held
 * mass deactivation. Reads `ldap.yaml` from GRANTFLOW_CONFIG_DIR and needs DATABASE_URL; prints the result as JSON
 * and exits 2 when the sync failed or waits for a confirmation, so a scheduler notices.
 */
import { readLdapDirectory } from '../directory/ldap';
import { loadLdapSettings } from '../directory/ldap-settings';
import { confirmLdapSync, syncLdap, type SyncResult } from '../directory/sync';
import { createDirectoryView } from '../directory/view';
import { loadConfig } from '../platform/config-files';
import { createPool, migrate } from '../platform/db';

const USAGE = 'usage: npm run directory:sync -- [--dry-run | --confirm <syncId> --by <userId>]';

async function main(argv: string[]): Promise<number> {
  const dryRun = argv.length === 1 && argv[0] === '--dry-run';
  const confirm = argv.length === 4 && argv[0] === '--confirm' && argv[2] === '--by';
  if (argv.length > 0 && !dryRun && !confirm) throw new Error(USAGE);
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error(`DATABASE_URL is not set.\n${USAGE}`);
  const dir = process.env.GRANTFLOW_CONFIG_DIR ?? 'config/demo';
  const settings = loadLdapSettings(dir);
  await migrate(url);
  const pool = createPool(url, 2);
  try {
    const read = () => readLdapDirectory(settings);
    let result: SyncResult;
    if (confirm) {
      const config = await createDirectoryView(pool, loadConfig(dir), 'ldap').current();
      result = await confirmLdapSync(pool, argv[1] as string, argv[3] as string, config, read);
    } else {
      result = await syncLdap(pool, { read, dryRun, actor: 'ldap-sync (on demand)' });
    }
    const { diff, ...rest } = result;
    const changes = diff?.identities.map((c) => ({ id: c.id, change: c.change, fields: c.fields })) ?? [];
    const groups = diff?.groups.map((c) => ({ id: c.id, change: c.change, fields: c.fields })) ?? [];
    process.stdout.write(
      `${JSON.stringify({ ...rest, deactivations: diff?.deactivations, changes, groups }, null, 2)}\n`,
    );
    return ['failed', 'awaiting_confirmation', 'superseded'].includes(result.status) ? 2 : 0;
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
