/** The skeleton's shapes and messages, shared by its workflow, its HTTP front and the bench. */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DecisionInput } from '../../workflows/messages';

/**
 * Activities per phase of grantflow's two paths (accessRequestV2 with `lean-bookkeeping`, checked against real
 * histories by the bench): `local` local activities while validating, `validate` scheduled ones, `open` once pending
 * approval, `handler` in the decide update, `provision` from provisioning to active with `beside` running at the same
 * time (the flush of the transition beside the connector call), `tail` after the grant is active.
 */
export interface Shape {
  local: number;
  validate: number;
  open: number;
  handler: number;
  provision: number;
  beside: number;
  tail: number;
}
export const SHAPES = {
  // evaluateRequest (local) | grantAccess beside bookkeep (submitted, validated, auto_approved) | bookkeep (provisioned,
  // notification)
  autoApproved: { local: 1, validate: 0, open: 0, handler: 0, provision: 1, beside: 1, tail: 1 },
  // evaluateRequest (local) | bookkeep (submitted, validated, stage opened, notification) | decide: bookkeep (decision,
  // approved) | grantAccess beside bookkeep | bookkeep (provisioned, notification)
  oneStage: { local: 1, validate: 0, open: 1, handler: 1, provision: 1, beside: 1, tail: 1 },
} as const satisfies Record<string, Shape>;

/** The entitlements the bench drives: github:member is auto-approved, anything else waits for one decision. */
export function shapeFor(entitlement: string): Shape {
  return entitlement === 'github:member' ? SHAPES.autoApproved : SHAPES.oneStage;
}

export const getRequestQuery = defineQuery<{ id: string; status: string }>('getRequest');
export const decideUpdate = defineUpdate<{ outcome: 'recorded'; status: string }, [DecisionInput]>('decide');
