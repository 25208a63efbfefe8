import type { AppContext } from '../context';
import type { ApiRouter } from '../router';
import { inboxQuery, requestPageSchema } from '../schemas';

export function registerApprovalRoutes(api: ApiRouter, ctx: AppContext): void {
  api.route({
    method: 'get',
    path: '/v1/approvals',
    operationId: 'listApprovals',
    summary: "The caller's inbox: requests waiting on their decision, review or fulfilment",
    description: 'Delegations are included: a delegate is an approver of the stages opened while the delegation holds.',
    tags: ['requests'],
    query: inboxQuery,
    answers: [{ status: 200, description: 'One page, newest first.', schema: requestPageSchema }],
    async handle({ res, query, caller }) {
      res.json(await ctx.store.list(caller, { ...query, pendingFor: caller.id }));
    },
  });
}
