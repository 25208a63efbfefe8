import pg from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import { requireEnv, type Connector, type ConnectorConfigOf, type ConnectorDeps } from './connector';

// PostgreSQL truncates longer identifiers silently, which would grant to a different role than the one checked.
const MAX_IDENTIFIER_BYTES = 63;
// SQLSTATEs a retry cannot fix: insufficient_privilege, undefined_object (no such role), reserved_name (pg_*).
const PERMANENT = new Set(['42501', '42704', '42939']);

/**
 * Grants a group role at a PostgreSQL database by making the beneficiary's role (created NOLOGIN when missing) a
 * member of it. The connection URL comes from the variable the catalog names, never from the catalog itself.
 */
export function postgresRoleConnector(config: ConnectorConfigOf<'postgres-role'>, deps: ConnectorDeps): Connector {
  async function withTarget<T>(beneficiary: string, target: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    checkIdentifier(beneficiary);
    checkIdentifier(target);
    const url = requireEnv(deps.env, config.connectionEnv, 'the connection URL of the postgres-role connector');
    const client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: deps.timeoutMs,
      statement_timeout: deps.timeoutMs,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('BEGIN');
      // Check-then-act on one beneficiary's roles happens one transaction at a time.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`grantflow:role:${beneficiary}`]);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      throw classify(err, target);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  return {
    async grant({ grant }) {
      await withTarget(grant.beneficiary, grant.target, async (client) => {
        if (!(await roleExists(client, grant.target))) {
          throw ApplicationFailure.nonRetryable(
            `The role "${grant.target}" does not exist on the database of ${config.connectionEnv}.`,
            'ConnectorMisconfigured',
          );
        }
        if (!(await roleExists(client, grant.beneficiary))) {
          await client.query(`CREATE ROLE ${pg.escapeIdentifier(grant.beneficiary)} NOLOGIN`);
        } else if (await sharedRole(client, grant.beneficiary)) {
          // A person's id that names a group role (or a built-in one) would hand the access to all its members.
          throw ApplicationFailure.nonRetryable(
            `The role "${grant.beneficiary}" on the database of ${config.connectionEnv} is shared by other roles ` +
              `(or built in), so granting to it would give ${grant.target} to all of them; rename that role, or ` +
              'give the person a directory id of their own.',
            'ConnectorMisconfigured',
          );
        }
        if (!(await isMember(client, grant.beneficiary, grant.target))) {
          await client.query(`GRANT ${pg.escapeIdentifier(grant.target)} TO ${pg.escapeIdentifier(grant.beneficiary)}`);
        }
        deps.log?.info({ beneficiary: grant.beneficiary, role: grant.target }, 'postgres role granted');
      });
    },

    async revoke({ grant }) {
      await withTarget(grant.beneficiary, grant.target, async (client) => {
        if (await isMember(client, grant.beneficiary, grant.target)) {
          await client.query(
            `REVOKE ${pg.escapeIdentifier(grant.target)} FROM ${pg.escapeIdentifier(grant.beneficiary)}`,
          );
        }
        deps.log?.info({ beneficiary: grant.beneficiary, role: grant.target }, 'postgres role revoked');
      });
    },

    async check({ grant }) {
      return withTarget(grant.beneficiary, grant.target, (client) => isMember(client, grant.beneficiary, grant.target));
    },
  };
}

/** A role that other roles are members of, or one of PostgreSQL's own (pg_*): never a single person's. */
async function sharedRole(client: pg.Client, role: string): Promise<boolean> {
  const { rows } = await client.query<{ shared: boolean }>(
    `SELECT $1 LIKE 'pg\\_%' OR EXISTS (
       SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = $1) AS shared`,
    [role],
  );
  return rows[0]?.shared ?? true;
}

async function roleExists(client: pg.Client, role: string): Promise<boolean> {
  const { rows } = await client.query<{ exists: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists',
    [role],
  );
  return rows[0]?.exists === true;
}

/** Direct membership, as GRANT records it (not inherited through another role). */
async function isMember(client: pg.Client, member: string, role: string): Promise<boolean> {
  const { rows } = await client.query<{ exists: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_auth_members m
       JOIN pg_roles r ON r.oid = m.roleid
       JOIN pg_roles u ON u.oid = m.member
       WHERE r.rolname = $1 AND u.rolname = $2
     ) AS exists`,
    [role, member],
  );
  return rows[0]?.exists === true;
}

function checkIdentifier(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw ApplicationFailure.nonRetryable(
      `"${name}" cannot be a PostgreSQL role name (1 to ${MAX_IDENTIFIER_BYTES} bytes).`,
      'ConnectorRejected',
    );
  }
}

function classify(err: unknown, target: string): unknown {
  if (err instanceof ApplicationFailure) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && PERMANENT.has(code)) {
    return ApplicationFailure.nonRetryable(
      `The database refused to manage the role "${target}": ${(err as Error).message} (SQLSTATE ${code}).`,
      'ConnectorRejected',
    );
  }
  return err;
}
