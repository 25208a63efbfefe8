import { OpenApiGeneratorV31, type OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';

/** The OpenAPI 3.1 document, generated from the routes' own zod schemas. */
export function openApiDocument(registry: OpenAPIRegistry): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'grantflow',
      version: '1',
      description:
        'Durable access requests: submit, follow, decide, extend, revoke, and the evidence an auditor needs. ' +
        'Identity comes from the bearer token only. Every error is application/problem+json (RFC 9457) with a ' +
        '`type` under urn:grantflow:problem:, the failing fields in `errors` and the `requestId` to quote.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [
      { name: 'requests', description: 'Submit, preview, read and list requests; the approver inbox.' },
      { name: 'messages', description: "Messages to a running request; the workflow's validators decide." },
      { name: 'catalog', description: 'What can be requested.' },
      {
        name: 'people',
        description: 'The caller as the directory knows them, their delegation while away, and finding people.',
      },
      { name: 'owners', description: 'Resource owners: who holds what on what they own.' },
      { name: 'audit', description: 'The hash-chained audit trail.' },
      { name: 'kpis', description: 'Process figures.' },
      { name: 'reviews', description: 'Access reviews: campaigns, the reviewer inbox, decisions, evidence.' },
      { name: 'ops', description: 'Health, readiness, metrics, this document.' },
    ],
  });
}
