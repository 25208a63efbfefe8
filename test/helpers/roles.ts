import type pg from 'pg';

/** Is `role` granted to `member`? Read straight from the target's catalog, independent of the connector's own check. */
export async function isRoleMember(db: pg.Pool | pg.Client, member: string, role: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
      WHERE r.rolname = $1 AND u.rolname = $2`,
    [role, member],
  );
  return rows.length > 0;
}
