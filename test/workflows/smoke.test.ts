import { Client, Connection } from '@temporalio/client';
import pg from 'pg';

test('the test stack gives a real Temporal server and a real PostgreSQL', async () => {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS });
  const client = new Client({ connection });
  const ns = await client.workflowService.describeNamespace({ namespace: 'default' });
  expect(ns.namespaceInfo?.name).toBe('default');
  await connection.close();
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  const { rows } = await db.query("SELECT to_regclass('audit_events') AS t");
  expect(rows[0].t).toBe('audit_events');
  await db.end();
});
