/**
 * Workflow histories to and from the proto3 JSON that Temporal's tools write (`temporal workflow show -o json`).
 *
 * Why not historyToJSON / historyFromJSON from @temporalio/common: in this install @temporalio/common and
 * @temporalio/proto each carry their own copy of protobufjs 8, and the SDK's converter, loaded from one copy, refuses
 * the message types of the other ("type must be a Type"). Loading the converter from the copy that @temporalio/proto
 * uses keeps the two together however npm lays the packages out.
 */
import path from 'node:path';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

export type History = proto.temporal.api.history.v1.IHistory;
interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

const protoDir = path.dirname(require.resolve('@temporalio/proto'));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const protojson = require(require.resolve('protobufjs/ext/protojson', { paths: [protoDir] })) as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

export function historyToJson(history: History): string {
  const message = proto.temporal.api.history.v1.History.fromObject(history);
  return JSON.stringify(protojson.toJson(historyType, message), null, 2);
}

export function historyFromJson(json: unknown): History {
  const history = protojson.fromJson(historyType, json, { ignoreUnknownFields: true }) as History | null;
  if (!history?.events?.length) throw new TypeError('Not a workflow history: no events.');
  return history;
}

/** The recorded paths (test/faults/histories/<name>.json) and how each request ended. */
/** Sets of one lane's own paths (histories/<set>/), each with how it ended; the replay test replays them too. */
export const laneHistoryPaths: Record<string, Record<string, { status: string; reviewState?: string }>> = {
  // Issue 15: a stage whose SLA counts business hours (patch `request-2026-12`), reminded, escalated, timed out.
  'v2-policy': { 'business-hours-timed-out': { status: 'timed_out' } },
  // Issue 15: waiting in line for a seat (patch `request-2026-12`), provisioned when the seat freed; cancelled in line.
  'v2-seats': { 'seat-waited-then-revoked': { status: 'revoked' }, 'seat-queued-cancelled': { status: 'cancelled' } },
  // Issue 10: a leaver's open approval rerouted to the stage's fallback (patch `request-2026-12`), approved, expired.
  'v2-reroute': { 'leaver-rerouted-approved': { status: 'expired' } },
};

export const historyPaths: Record<string, { status: string; reviewState?: string }> = {
  'auto-approved': { status: 'expired' },
  'multi-stage-approved': { status: 'expired' },
  denied: { status: 'denied' },
  'timed-out-escalated': { status: 'timed_out' },
  cancelled: { status: 'cancelled' },
  revoked: { status: 'revoked' },
  expired: { status: 'expired' },
  'break-glass-reviewed': { status: 'expired', reviewState: 'cleared' },
  'break-glass-review-overdue': { status: 'expired', reviewState: 'flagged' },
  'extended-then-revoked': { status: 'revoked' },
  'rejected-duplicate': { status: 'rejected' },
  'manual-fulfilled-then-revoked': { status: 'revoked' },
};

/** The view a completed history's workflow returned (its result payload, JSON-encoded by the default converter). */
export function historyResult(history: History): { status?: string; reviewState?: string } | undefined {
  const completed = history.events?.at(-1)?.workflowExecutionCompletedEventAttributes;
  const data = completed?.result?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { status?: string }) : undefined;
}
