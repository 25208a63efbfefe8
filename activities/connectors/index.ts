import type { ConnectorConfig } from '../../domain/model';
import type { Connector, ConnectorDeps } from './connector';
import { manualConnector } from './manual';
import { postgresRoleConnector } from './postgres-role';
import { webhookConnector } from './webhook';

export type { CheckInput, Connector, ConnectorDeps, RevokeInput } from './connector';

const DEFAULT_TIMEOUT_MS = 10_000;

/** The connector a resource's catalog entry names. */
export function connectorFor(config: ConnectorConfig, deps: Partial<ConnectorDeps> = {}): Connector {
  const full: ConnectorDeps = {
    env: deps.env ?? process.env,
    timeoutMs: deps.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(deps.log && { log: deps.log }),
  };
  switch (config.type) {
    case 'postgres-role':
      return postgresRoleConnector(config, full);
    case 'webhook':
      return webhookConnector(config, full);
    case 'manual':
      return manualConnector(config, full);
  }
}
