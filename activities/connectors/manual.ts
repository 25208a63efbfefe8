import type { Connector, ConnectorConfigOf, ConnectorDeps } from './connector';

/**
 * A person fulfils the grant by hand: the workflow opens the fulfilment task and waits for the fulfiller's message,
 * so the connector only records that the work was handed over.
 */
export function manualConnector(config: ConnectorConfigOf<'manual'>, deps: Pick<ConnectorDeps, 'log'>): Connector {
  return {
    async grant({ requestId, grant, expiresAt }) {
      deps.log?.info(
        {
          requestId,
          entitlement: grant.entitlement,
          beneficiary: grant.beneficiary,
          fulfillers: grant.fulfillers,
          expiresAt,
          sla: config.sla,
        },
        'manual grant handed to fulfillers',
      );
    },
    async revoke({ requestId, grant }) {
      deps.log?.info(
        { requestId, entitlement: grant.entitlement, beneficiary: grant.beneficiary, fulfillers: grant.fulfillers },
        'manual revocation handed to fulfillers',
      );
    },
    // The fulfiller's confirmation is the only evidence there is.
    async check() {
      return true;
    },
  };
}
