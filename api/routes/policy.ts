import { z } from 'zod';
import { conditions, exceptionPolicySchema, policyDiagram, ruleSchema, stageSchema, type Config } from '../../domain';
import type { AppContext } from '../context';
import type { ApiRouter } from '../router';

const policyBodySchema = z
  .object({
    version: z.string().meta({
      description:
        'What every request records as the policy it was decided under: the label in policy.yaml and, when the ' +
        'files were read from disk, the first 12 hex digits of `sha256`.',
      example: '2026-11-23.1@3f2a9c1b7d4e',
    }),
    label: z.string().meta({ description: 'The `version` written in policy.yaml.' }),
    sha256: z.string().optional().meta({
      description: 'SHA-256 over the files’ `sha256sum` lines: `sha256sum catalog.yaml policy.yaml | sha256sum`.',
    }),
    files: z.array(z.object({ name: z.string(), sha256: z.string() })).optional(),
    roles: z.object({ security: z.string(), auditors: z.array(z.string()), admins: z.array(z.string()) }),
    breakGlassReview: stageSchema,
    extensionWithoutApprovalUpTo: z.string().optional(),
    rules: z.array(
      ruleSchema.extend({
        conditions: z.array(z.string()).meta({ description: 'The rule’s `when`, in words.' }),
      }),
    ),
    exceptions: exceptionPolicySchema.optional(),
    diagram: z.string().meta({ description: 'The whole policy as one Mermaid flowchart.' }),
  })
  .meta({ id: 'Policy', description: 'The approval policy in force: its version and its rules, in the order tried.' });
type PolicyBody = z.output<typeof policyBodySchema>;

export function registerPolicyRoutes(api: ApiRouter, ctx: AppContext): void {
  const body = policyOf(ctx.config);
  api.route({
    method: 'get',
    path: '/v1/policy',
    operationId: 'getPolicy',
    summary: 'The approval policy in force: its version (a digest of the files) and its rules',
    description: 'Open to every signed-in person: who approves what, and why, is no secret from the people it governs.',
    tags: ['catalog'],
    answers: [{ status: 200, description: 'The policy.', schema: policyBodySchema }],
    async handle({ res }) {
      res.json(body);
    },
  });
}

function policyOf(config: Config): PolicyBody {
  const { policy, source } = config;
  return {
    version: config.policyVersion,
    label: policy.version,
    ...(source && { sha256: source.sha256, files: source.files }),
    roles: policy.roles,
    breakGlassReview: policy.breakGlassReview,
    ...(policy.extensionWithoutApprovalUpTo !== undefined && {
      extensionWithoutApprovalUpTo: policy.extensionWithoutApprovalUpTo,
    }),
    rules: policy.rules.map((rule) => ({ ...rule, conditions: conditions(rule) })),
    ...(policy.exceptions && { exceptions: policy.exceptions }),
    diagram: policyDiagram(config),
  };
}
