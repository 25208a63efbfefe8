/**
 * `npm run audit:verify -- export.json [--key public-key.pem|key.json] [--checkpoint checkpoint.json] [--json]`
 *
 * Verifies a JSON audit export offline, with only the checkpoints' public key: the signature of the checkpoint, then
 * every event's hash and link from the first event up to the checkpoint. No database and no HMAC key: the export's
 * checkpoint fixes every event up to its seq. Pin the key you got out of band with --key (PEM, or the JSON that
 * `GET /v1/audit/checkpoints/key` answers); without it the key inside the export is used, and said so.
 * Exit code 0: the export holds; 1: it does not (each break is named); 2: the command could not run.
 */
import fs from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import {
  checkpointProblem,
  importPublicKey,
  verifyRecords,
  type AuditRecord,
  type Checkpoint,
  type Finding,
  type VerifyReport,
} from '../activities/audit-chain';

const recordSchema = z.object({
  seq: z.number().int().positive(),
  eventId: z.string(),
  requestId: z.string().optional(),
  actor: z.string(),
  action: z.string(),
  at: z.string(),
  data: z.record(z.string(), z.unknown()),
  prevHash: z.string(),
  hash: z.string(),
  keyId: z.string().optional(),
  mac: z.string().optional(),
}) satisfies z.ZodType<AuditRecord>;

const exportSchema = z.object({
  format: z.literal('grantflow-audit-export'),
  version: z.literal(1),
  complete: z.boolean(),
  checkpoint: z.unknown(),
  publicKey: z.object({ pem: z.string() }).loose().nullable(),
  events: z.array(recordSchema),
});

export interface OfflineVerdict extends VerifyReport {
  /** Where the public key came from. */
  keySource: 'pinned' | 'export';
}

class UsageError extends Error {}

/** Verifies a parsed export; `pinnedKey` is the auditor's own copy of the public key. */
export function verifyExport(doc: unknown, pinnedKey?: KeyObject, newerCheckpoint?: unknown): OfflineVerdict {
  const parsed = exportSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(
      `This is not a grantflow JSON export: ${issue?.path.join('.') || 'the document'} ${issue?.message}.`,
    );
  }
  const ex = parsed.data;
  if (!ex.complete) {
    throw new UsageError(
      'This export is filtered (by time or request): it lacks the links between its events. Export without filters to verify.',
    );
  }
  if (!pinnedKey && !ex.publicKey) throw new UsageError('The export carries no public key: pass one with --key.');
  const publicKey = pinnedKey ?? importPublicKey(ex.publicKey?.pem ?? '');
  const findings: Finding[] = [];
  let checkpoint: Checkpoint | undefined;
  for (const candidate of [ex.checkpoint, newerCheckpoint]) {
    if (candidate === undefined || candidate === null) continue;
    const problem = checkpointProblem(candidate, publicKey);
    if (problem) {
      const seq = (candidate as { seq?: unknown }).seq;
      findings.push({
        kind: 'checkpoint_forged',
        seq: typeof seq === 'number' ? seq : 0,
        message: `The checkpoint cannot be trusted: ${problem}.`,
      });
    } else if (!checkpoint || (candidate as Checkpoint).seq > checkpoint.seq) {
      checkpoint = candidate as Checkpoint;
    }
  }
  if (!checkpoint && findings.length === 0) {
    findings.push({
      kind: 'checkpoint_forged',
      seq: 0,
      message: 'The export carries no checkpoint: nothing vouches for it.',
    });
  }
  const report = verifyRecords(ex.events, checkpoint ? { checkpoint } : {});
  const all = [...findings, ...report.findings];
  return { ...report, ok: all.length === 0, findings: all, keySource: pinnedKey ? 'pinned' : 'export' };
}

function readKey(file: string): KeyObject {
  const text = fs.readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('-----BEGIN')) return importPublicKey(text);
  const json = JSON.parse(text) as { pem?: string; jwk?: Record<string, unknown> } & Record<string, unknown>;
  if (typeof json.pem === 'string') return importPublicKey(json.pem);
  return importPublicKey(json.jwk ?? json);
}

function describe(v: OfflineVerdict): string {
  const lines = [
    v.ok ? 'OK: the export holds.' : `NOT OK: ${v.findings.length} break(s) found.`,
    `  events ${v.count} (unkeyed prefix ${v.unkeyed}), head seq ${v.head.seq} ${v.head.hash}`,
    v.checkpoint
      ? `  checkpoint seq ${v.checkpoint.seq} signed ${v.checkpoint.at} by key ${v.checkpoint.keyId}: ${v.checkpoint.holds ? 'holds' : 'does NOT hold'}`
      : '  no trustworthy checkpoint',
    v.keySource === 'pinned'
      ? '  public key: pinned (--key)'
      : '  public key: taken from the export itself; pin your own copy with --key for this to mean anything',
    '  event MACs: not checked offline (they need the HMAC key); the checkpoint fixes every event up to its seq',
    ...v.findings.map(
      (f) => `  - ${f.kind} at seq ${f.seq}${f.toSeq !== undefined ? `..${f.toSeq}` : ''}: ${f.message}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

function main(argv: string[]): number {
  const args = [...argv];
  const take = (flag: string) => {
    const i = args.indexOf(flag);
    if (i < 0) return undefined;
    const value = args[i + 1];
    if (!value || value.startsWith('--')) throw new UsageError(`${flag} needs a file.`);
    args.splice(i, 2);
    return value;
  };
  try {
    const keyFile = take('--key');
    const checkpointFile = take('--checkpoint');
    const json = args.includes('--json');
    const files = args.filter((a) => a !== '--json');
    if (files.length !== 1) {
      throw new UsageError(
        'usage: npm run audit:verify -- <export.json> [--key <public key PEM or JSON>] [--checkpoint <file>] [--json]',
      );
    }
    const doc: unknown = JSON.parse(fs.readFileSync(files[0] as string, 'utf8'));
    const newer: unknown = checkpointFile ? JSON.parse(fs.readFileSync(checkpointFile, 'utf8')) : undefined;
    const verdict = verifyExport(doc, keyFile ? readKey(keyFile) : undefined, newer);
    process.stdout.write(json ? `${JSON.stringify(verdict, null, 2)}\n` : describe(verdict));
    return verdict.ok ? 0 : 1;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`audit:verify: ${message}\n`);
    return 2;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
