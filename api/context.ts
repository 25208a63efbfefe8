import type pg from 'pg';
import type { Client } from '@temporalio/client';
import type { Config } from '../domain';
import type { AuditLog } from '../activities/audit';
import type { Logger } from '../platform/logger';
import type { Metrics } from './metrics';
import type { RequestStore } from './store';
import type { WorkflowGateway } from './workflows';

/** What route handlers work with; built once by createApp. */
export interface AppContext {
  config: Config;
  log: Logger;
  pool: pg.Pool;
  client: Client;
  store: RequestStore;
  audit: AuditLog;
  workflows: WorkflowGateway;
  metrics: Metrics;
}
