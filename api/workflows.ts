import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { RiskLevel } from '../domain';
import type { accessRequestV2 } from '../workflows/request/workflow';
import { getRequestQuery, workflowIdFor, type AccessRequestArgs, type RequestView } from '../workflows/messages';
import {
  beneficiaryKey,
  breakGlassKey,
  entitlementKey,
  requesterKey,
  resourceKey,
  statusKey,
} from '../workflows/search-attributes';

const QUERY_TIMEOUT_MS = 2000;
const START_TIMEOUT_MS = 10_000;
// Long enough for a validator and a handler's bookkeeping activities; an answer later than this is a 503 to retry.
const UPDATE_TIMEOUT_MS = 15_000;

/**
 * What the Temporal UI's list shows for a request without opening it: `requester → entitlement, risk`, fixed at the
 * start (static), so the risk is the one assessed at submission; the live level is the GrantflowRiskLevel search
 * attribute and the workflow's current details. The details add the beneficiary, duration and justification.
 */
export function operatorSummary(
  args: AccessRequestArgs,
  risk: RiskLevel | undefined,
): { staticSummary: string; staticDetails: string } {
  const { input, requester } = args;
  const beneficiary = input.beneficiary ?? requester;
  const forWhom = beneficiary === requester ? '' : ` for ${beneficiary}`;
  const breakGlass = input.breakGlass ? ', break-glass' : '';
  return {
    staticSummary: `${requester} → ${input.entitlement}${forWhom}, risk ${risk ?? 'not assessed'}${breakGlass}`,
    staticDetails: [
      `**${input.entitlement}** for **${beneficiary}**, requested by **${requester}** at ${args.submittedAt}`,
      `Duration: ${input.duration ?? 'the entitlement default'}${input.breakGlass ? ' (break-glass)' : ''}`,
      `Justification: ${input.justification}`,
    ].join('\n\n'),
  };
}

/** The API's side of the access-request workflow: start it, read its view, send it messages. */
export function createWorkflowGateway(client: Client, taskQueue: string) {
  const handle = (requestId: string) => client.workflow.getHandle(workflowIdFor(requestId));

  /** Starts the request's workflow once: a retry finds the running one, and a closed one is never started again. */
  async function start(args: AccessRequestArgs, assessed: { risk?: RiskLevel } = {}): Promise<void> {
    const { input, requester, requestId } = args;
    const beneficiary = input.beneficiary ?? requester;
    try {
      // By name: the workflow module is for the worker's sandbox, not for this process.
      await client.withDeadline(Date.now() + START_TIMEOUT_MS, () =>
        client.workflow.start<typeof accessRequestV2>('accessRequestV2', {
          workflowId: workflowIdFor(requestId),
          taskQueue,
          args: [args],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: [
            { key: statusKey, value: 'validating' },
            { key: requesterKey, value: requester },
            { key: beneficiaryKey, value: beneficiary },
            { key: entitlementKey, value: input.entitlement },
            { key: resourceKey, value: input.entitlement.split(':')[0] ?? '' },
            { key: breakGlassKey, value: input.breakGlass },
          ],
          ...operatorSummary(args, assessed.risk),
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return; // it ran and closed: the first start counted
      throw err;
    }
  }

  /** The workflow's view; throws WorkflowNotFoundError for an unknown id, or a Temporal error when unreachable. */
  async function view(requestId: string, timeoutMs = QUERY_TIMEOUT_MS): Promise<RequestView> {
    return client.withDeadline(Date.now() + timeoutMs, () => handle(requestId).query(getRequestQuery));
  }

  /** Polls the view until `done` holds or `waitMs` passes; the last view seen, if any. */
  async function waitFor(
    requestId: string,
    done: (view: RequestView) => boolean,
    waitMs: number,
  ): Promise<RequestView | undefined> {
    const until = Date.now() + waitMs;
    let last: RequestView | undefined;
    for (let pause = 50; Date.now() < until; pause = Math.min(pause * 2, 400)) {
      try {
        last = await view(requestId, Math.max(200, until - Date.now()));
        if (done(last)) return last;
      } catch {
        // Not answerable yet (no workflow task done, or Temporal busy): ask again until the wait is over.
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, until - Date.now()))));
    }
    return last;
  }

  async function update<Ret, Arg>(
    requestId: string,
    def: UpdateDefinition<Ret, [Arg]>,
    input: Arg,
    updateId: string,
  ): Promise<Ret> {
    return client.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, () =>
      handle(requestId).executeUpdate(def, { args: [input], updateId }),
    );
  }

  /** Whether a workflow exists, running or closed (an update to a closed one reads as "not found"). */
  async function exists(requestId: string): Promise<boolean> {
    try {
      await client.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => handle(requestId).describe());
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  return { start, view, waitFor, update, exists };
}
export type WorkflowGateway = ReturnType<typeof createWorkflowGateway>;
