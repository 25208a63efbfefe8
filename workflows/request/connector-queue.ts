/**
 * The task queue of a request's connector calls (grant, revoke): a queue of their own beside the workflow's, served
 * by a worker whose activity slots are the connector's concurrency (worker/create-worker.ts). A call waits there,
 * before its attempt starts, for a slot: the wait spends none of the attempt's timeout and none of its retry budget.
 */
export function connectorTaskQueue(workflowTaskQueue: string): string {
  return `${workflowTaskQueue}-connectors`;
}
