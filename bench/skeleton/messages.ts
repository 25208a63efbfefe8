/** The skeleton's shapes and messages, shared by its workflow, its HTTP front and the bench. */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DecisionInput } from '../../workflows/messages';

/**
 * Activities per phase of grantflow's two paths (counted in workflows/access-request.ts and checked against real
 * histories by the bench): `validate` while validating, `open` once pending approval, `handler` in the decide
 * update, `provision` from provisioning to active, `tail` after the grant is active.
 */
export interface Shape {
  validate: number;
  open: number;
  handler: number;
  provision: number;
  tail: number;
}
export const SHAPES = {
  // recordAudit submitted, project, evaluateRequest, recordAudit validated, recordAudit auto_approved | project,
  // provision | recordAudit provisioned, notify, project
  autoApproved: { validate: 5, open: 0, handler: 0, provision: 2, tail: 3 },
  // recordAudit submitted, project, evaluateRequest, recordAudit validated | recordAudit stage_opened, notify,
  // project | decide: recordAudit decision_recorded, project | project, provision | recordAudit, notify, project
  oneStage: { validate: 4, open: 3, handler: 2, provision: 2, tail: 3 },
} as const satisfies Record<string, Shape>;

/** The entitlements the bench drives: github:member is auto-approved, anything else waits for one decision. */
export function shapeFor(entitlement: string): Shape {
  return entitlement === 'github:member' ? SHAPES.autoApproved : SHAPES.oneStage;
}

export const getRequestQuery = defineQuery<{ id: string; status: string }>('getRequest');
export const decideUpdate = defineUpdate<{ outcome: 'recorded'; status: string }, [DecisionInput]>('decide');
