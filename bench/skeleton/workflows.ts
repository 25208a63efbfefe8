/**
 * The skeleton request: grantflow's access-request workflow with its business removed. It runs the same number of
 * activities (local ones as local activities) in the same order and waits for one `decide` update on the same path, with empty activity bodies and no
 * search attributes, so a run against it measures the floor the Temporal server, the SDK and the HTTP hop set.
 *
 * It is registered under the product's workflow type and query and update names (on its own task queue), so the
 * API's own gateway starts, polls and updates it exactly as it does the real workflow.
 */
import {
  allHandlersFinished,
  condition,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import type { AccessRequestArgs } from '../../workflows/messages';
import type * as activities from './activities';
import { decideUpdate, getRequestQuery, shapeFor } from './messages';

const { noop } = proxyActivities<typeof activities>({
  startToCloseTimeout: '20s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s' },
});

const local = proxyLocalActivities<typeof activities>({
  startToCloseTimeout: '20s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s' },
});

// How long the grant stays live; the bench terminates its skeleton requests long before.
const HOLD_MS = 3_600_000;

export async function accessRequestV2(args: AccessRequestArgs): Promise<{ id: string; status: string }> {
  const shape = shapeFor(args.input.entitlement);
  let status = 'validating';
  let decided = false;
  setHandler(getRequestQuery, () => ({ id: args.requestId, status }));
  setHandler(
    decideUpdate,
    async (_input) => {
      decided = true;
      for (let i = 0; i < shape.handler; i++) await noop('decision');
      return { outcome: 'recorded' as const, status };
    },
    {
      validator: (_input) => {
        if (status !== 'pending_approval' || decided) throw new Error('No stage is open for decisions.');
      },
    },
  );
  const steps = async (n: number, name: string) => {
    for (let i = 0; i < n; i++) await noop(name);
  };

  for (let i = 0; i < shape.local; i++) await local.noop('validate');
  await steps(shape.validate, 'validate');
  if (shape.open > 0) {
    status = 'pending_approval';
    await steps(shape.open, 'open');
    await condition(() => decided);
  }
  status = 'provisioning';
  await Promise.all([steps(shape.provision, 'provision'), steps(shape.beside, 'beside')]);
  status = 'active';
  await steps(shape.tail, 'tail');
  await condition(() => false, HOLD_MS);
  status = 'expired';
  await condition(allHandlersFinished);
  return { id: args.requestId, status };
}
