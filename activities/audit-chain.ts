/**
 * The audit chain's cryptography, without I/O, so the API, the worker and the offline verifier
 * (`npm run audit:verify`) judge a chain by the same code.
 *
 * Each event carries two values:
 * - `hash`: SHA-256 over the previous event's hash and the event's canonical content, its `seq` included. Anyone can
 *   recompute it, so an auditor holding only the checkpoints' public key can check an export against a checkpoint.
 * - `mac`: HMAC-SHA256 of the key id and the hash, under a key that is never stored in the database. Whoever can
 *   write the table but does not hold the key cannot make a changed event, or a rewritten tail, verify again.
 * A checkpoint is the chain head (seq, hash, time) signed with Ed25519 and kept outside the database: it fixes every
 * event up to its seq, so deleting the newest events or rewriting the chain with the key shows too.
 */
import { createHash, createHmac, createPublicKey, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';

/** The `prevHash` of the first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** An event as stored and exported: its place in the chain and the values that tie it to its predecessor. */
export interface AuditRecord {
  seq: number;
  eventId: string;
  requestId?: string;
  actor: string;
  action: string;
  at: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
  /** Absent on events written before the chain was keyed (the unkeyed prefix). */
  keyId?: string;
  mac?: string;
}

export type HashedContent = Pick<AuditRecord, 'eventId' | 'requestId' | 'actor' | 'action' | 'at' | 'data'>;

/** JSON with object keys sorted at every depth, so equal content always hashes alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function content(e: HashedContent) {
  return {
    eventId: e.eventId,
    requestId: e.requestId ?? null,
    actor: e.actor,
    action: e.action,
    at: e.at,
    data: e.data,
  };
}

/** The unkeyed chain's hash (events before keying): no seq, so it cannot tell a gap or a swap by itself. */
export function legacyHash(prevHash: string, e: HashedContent): string {
  return createHash('sha256')
    .update(prevHash + canonicalJson(content(e)), 'utf8')
    .digest('hex');
}

/** The keyed chain's public hash: the seq is part of the content, so a missing or moved event shows. */
export function chainHash(prevHash: string, seq: number, e: HashedContent): string {
  return createHash('sha256')
    .update(`grantflow-audit-v2\n${prevHash}\n${canonicalJson({ seq, ...content(e) })}`, 'utf8')
    .digest('hex');
}

// ---------- HMAC keys ----------

/** The HMAC keys: `current` signs new events; every key, old ones included, verifies. */
export interface AuditKeyring {
  current: string;
  keys: ReadonlyMap<string, Buffer>;
}

export const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
export const MIN_KEY_BYTES = 32;

/**
 * Parses `id:secret` entries, one per line or comma-separated; the first is the current key. A rotation prepends the
 * new key and keeps the old ones, so events they made still verify.
 */
export function parseKeyring(text: string, where: string): AuditKeyring {
  const keys = new Map<string, Buffer>();
  let current: string | undefined;
  const entries = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .flatMap((line) => line.split(','))
    .map((e) => e.trim());
  for (const entry of entries) {
    if (entry === '') continue;
    const colon = entry.indexOf(':');
    const id = entry.slice(0, colon);
    const secret = entry.slice(colon + 1);
    if (colon < 1 || !KEY_ID.test(id)) {
      throw new Error(`${where}: each entry must be "<key id>:<secret>" with a key id of letters, digits, . _ -.`);
    }
    if (Buffer.byteLength(secret, 'utf8') < MIN_KEY_BYTES) {
      throw new Error(`${where}: the secret of key "${id}" must be at least ${MIN_KEY_BYTES} bytes.`);
    }
    if (keys.has(id)) throw new Error(`${where}: key id "${id}" appears twice.`);
    keys.set(id, Buffer.from(secret, 'utf8'));
    current ??= id;
  }
  if (current === undefined) throw new Error(`${where}: no key is given.`);
  return { current, keys };
}

export function eventMac(key: Buffer, keyId: string, hash: string): string {
  return createHmac('sha256', key).update(`${keyId}\n${hash}`, 'utf8').digest('hex');
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

// ---------- Checkpoints ----------

/** The chain head as signed: every event up to `seq` is fixed by `hash`. */
export interface CheckpointBody {
  version: 1;
  seq: number;
  hash: string;
  /** When the checkpoint was taken (ISO-8601). */
  at: string;
  /** The signing key's id: the first 16 hex digits of the SHA-256 of its public key (SPKI DER). */
  keyId: string;
}

export interface Checkpoint extends CheckpointBody {
  /** Ed25519 over the canonical JSON of the body, base64url. */
  signature: string;
}

export function publicKeyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

function checkpointMessage(body: CheckpointBody): Buffer {
  const { version, seq, hash, at, keyId } = body;
  return Buffer.from(`grantflow-audit-checkpoint\n${canonicalJson({ version, seq, hash, at, keyId })}`, 'utf8');
}

export function signCheckpoint(privateKey: KeyObject, head: { seq: number; hash: string }, at: Date): Checkpoint {
  const body: CheckpointBody = {
    version: 1,
    seq: head.seq,
    hash: head.hash,
    at: at.toISOString(),
    keyId: publicKeyId(createPublicKey(privateKey)),
  };
  return { ...body, signature: sign(null, checkpointMessage(body), privateKey).toString('base64url') };
}

/** Why a checkpoint cannot be trusted, or undefined when its signature holds under `publicKey`. */
export function checkpointProblem(cp: unknown, publicKey: KeyObject): string | undefined {
  const c = cp as Partial<Checkpoint> | null;
  if (
    !c ||
    c.version !== 1 ||
    !Number.isSafeInteger(c.seq) ||
    typeof c.hash !== 'string' ||
    typeof c.at !== 'string' ||
    typeof c.keyId !== 'string' ||
    typeof c.signature !== 'string'
  ) {
    return 'it is not a grantflow checkpoint (version, seq, hash, at, keyId, signature)';
  }
  const expected = publicKeyId(publicKey);
  if (c.keyId !== expected) return `it names signing key ${c.keyId}, not the published key ${expected}`;
  const ok = verify(null, checkpointMessage(c as Checkpoint), publicKey, Buffer.from(c.signature, 'base64url'));
  return ok ? undefined : 'its Ed25519 signature does not verify under the published key';
}

// ---------- Verification ----------

export type FindingKind =
  | 'changed'
  | 'missing'
  | 'reordered'
  | 'tail_cut'
  | 'checkpoint_mismatch'
  | 'checkpoint_forged'
  | 'unknown_key'
  | 'unkeyed_after_keyed';

export interface Finding {
  kind: FindingKind;
  /** The stored seq the finding is about (for `missing` and `tail_cut`: the first absent one). */
  seq: number;
  /** The last absent seq (`missing`, `tail_cut`). */
  toSeq?: number;
  eventId?: string;
  message: string;
}

export interface VerifyOptions {
  /** The HMAC keys; without them (an auditor offline) each event's MAC is not checked, only hashes and checkpoint. */
  keyring?: AuditKeyring;
  /** The newest checkpoint to hold the chain against, already checked for its signature. */
  checkpoint?: Checkpoint;
  /** Stop collecting findings after this many (a wholesale rewrite would otherwise list every event). */
  maxFindings?: number;
}

export interface VerifyReport {
  ok: boolean;
  /** Events read. */
  count: number;
  /** Events before the chain was keyed, verified by their links only. */
  unkeyed: number;
  head: { seq: number; hash: string };
  /** The checkpoint the chain was held against, and whether it holds. */
  checkpoint?: { seq: number; hash: string; at: string; keyId: string; holds: boolean };
  /** Events after the checkpoint: their hashes link up, but only the HMAC (with the key) vouches for them. */
  afterCheckpoint: number;
  macChecked: boolean;
  findings: Finding[];
}

const NEIGHBOURHOOD = 64;

/**
 * Walks the records in stored order (ascending `seq`) and names every break: an event whose content or place does
 * not match its hash or MAC (changed), seqs that are absent (missing), an event stored at another event's place
 * (reordered), and, against the checkpoint, a chain that ends before it (tail cut) or differs at its seq.
 */
export function createVerifier(opts: VerifyOptions = {}) {
  const max = opts.maxFindings ?? 100;
  const findings: Finding[] = [];
  const add = (f: Finding) => {
    if (findings.length < max) findings.push(f);
  };
  let count = 0;
  let unkeyed = 0;
  let keyedSeen = false;
  let prevHash = GENESIS_HASH;
  let prevSeq: number | undefined;
  let hashAtCheckpoint: string | undefined;
  // The first of a run of events whose hashes were recomputed without the key (one change, re-hashed onwards).
  let recomputedFrom: number | undefined;
  // The last few records, to recognise an event that sits at a neighbour's place.
  const window: AuditRecord[] = [];

  function placeOf(r: AuditRecord, candidates: number[]): number | undefined {
    for (const seq of candidates) if (seq !== r.seq && chainHash(r.prevHash, seq, r) === r.hash) return seq;
    return undefined;
  }

  function push(r: AuditRecord): void {
    count += 1;
    const keyed = r.keyId !== undefined || r.mac !== undefined;
    if (!keyed) {
      if (keyedSeen) {
        add({
          kind: 'unkeyed_after_keyed',
          seq: r.seq,
          eventId: r.eventId,
          message: `Event seq ${r.seq} (${r.eventId}) has no MAC after keyed events: it was written or rewritten by someone without the key.`,
        });
      } else {
        unkeyed += 1;
        if (r.prevHash !== prevHash || legacyHash(r.prevHash, r) !== r.hash) {
          add({
            kind: 'changed',
            seq: r.seq,
            eventId: r.eventId,
            message: `Unkeyed event seq ${r.seq} (${r.eventId}) does not match its hash or its predecessor: it was changed, removed or moved.`,
          });
        }
      }
    } else {
      keyedSeen = true;
      checkKeyed(r);
    }
    if (opts.checkpoint && r.seq === opts.checkpoint.seq) hashAtCheckpoint = r.hash;
    prevHash = r.hash;
    prevSeq = r.seq;
    window.push(r);
    if (window.length > NEIGHBOURHOOD) window.shift();
  }

  function checkKeyed(r: AuditRecord): void {
    const expectedSeq = prevSeq === undefined ? undefined : prevSeq + 1;
    // Missing: a jump in seq (seqs are dense: each event takes its predecessor's seq + 1 under the chain lock).
    if (expectedSeq !== undefined && r.seq > expectedSeq && r.prevHash !== prevHash) {
      add({
        kind: 'missing',
        seq: expectedSeq,
        toSeq: r.seq - 1,
        message:
          r.seq - 1 === expectedSeq
            ? `Event seq ${expectedSeq} is missing: it was deleted (before ${r.eventId}).`
            : `Events seq ${expectedSeq} to ${r.seq - 1} are missing: they were deleted (before ${r.eventId}).`,
      });
    }
    const contentHolds = chainHash(r.prevHash, r.seq, r) === r.hash;
    if (!contentHolds) {
      // A genuine event whose hash holds at a neighbour's seq was moved there: a reorder, not an edit.
      const neighbours = window
        .map((w) => w.seq)
        .concat(Array.from({ length: NEIGHBOURHOOD }, (_, i) => r.seq + i + 1));
      const original = placeOf(r, neighbours);
      add(
        original !== undefined
          ? {
              kind: 'reordered',
              seq: r.seq,
              eventId: r.eventId,
              message: `Event ${r.eventId} belongs at seq ${original} but is stored at seq ${r.seq}: events were reordered.`,
            }
          : {
              kind: 'changed',
              seq: r.seq,
              eventId: r.eventId,
              message: `Event seq ${r.seq} (${r.eventId}) was changed: its content does not match its hash.`,
            },
      );
    } else if (r.prevHash !== prevHash && (expectedSeq === undefined || r.seq === expectedSeq)) {
      const culprit = window.at(-1);
      // Its predecessor was already named (changed or moved); the broken link is the same story.
      if (!culprit || !findings.some((f) => f.seq === culprit.seq)) {
        add({
          kind: 'changed',
          seq: culprit?.seq ?? r.seq,
          ...(culprit && { eventId: culprit.eventId }),
          message: culprit
            ? `Event seq ${culprit.seq} (${culprit.eventId}) was replaced: event seq ${r.seq} links to another hash.`
            : `Event seq ${r.seq} (${r.eventId}) does not link to the start of the chain: events before it were removed.`,
        });
      }
    }
    if (!opts.keyring) return;
    const key = r.keyId === undefined ? undefined : opts.keyring.keys.get(r.keyId);
    if (!key || r.keyId === undefined) {
      add({
        kind: 'unknown_key',
        seq: r.seq,
        eventId: r.eventId,
        message: `Event seq ${r.seq} (${r.eventId}) names HMAC key "${r.keyId ?? ''}", which is not in the keyring.`,
      });
      return;
    }
    // With a hash that holds, a wrong MAC means the hash itself was recomputed by someone without the key.
    if (contentHolds && !sameHex(eventMac(key, r.keyId, r.hash), r.mac ?? '')) {
      add({
        kind: 'changed',
        seq: r.seq,
        eventId: r.eventId,
        message:
          recomputedFrom === undefined
            ? `Event seq ${r.seq} (${r.eventId}) was changed and its hash recomputed: its HMAC (key ${r.keyId}) does not match.`
            : `Event seq ${r.seq} (${r.eventId}) was re-hashed to cover the change at seq ${recomputedFrom}: its HMAC (key ${r.keyId}) does not match.`,
      });
      recomputedFrom ??= r.seq;
    } else {
      recomputedFrom = undefined;
    }
  }

  function finish(): VerifyReport {
    const cp = opts.checkpoint;
    let holds = true;
    if (cp) {
      const lastSeq = prevSeq ?? 0;
      if (lastSeq < cp.seq) {
        holds = false;
        add({
          kind: 'tail_cut',
          seq: lastSeq + 1,
          toSeq: cp.seq,
          message: `The chain ends at seq ${lastSeq}, but checkpoint ${cp.seq} (signed ${cp.at}) covers events up to seq ${cp.seq}: the tail after seq ${lastSeq} was cut.`,
        });
      } else if (cp.seq === 0 ? cp.hash !== GENESIS_HASH : hashAtCheckpoint === undefined) {
        holds = false;
        add({
          kind: 'checkpoint_mismatch',
          seq: cp.seq,
          message: `Checkpoint ${cp.seq} (signed ${cp.at}) names an event that is not in the chain.`,
        });
      } else if (cp.seq > 0 && hashAtCheckpoint !== cp.hash) {
        holds = false;
        add({
          kind: 'checkpoint_mismatch',
          seq: cp.seq,
          message: `The chain up to seq ${cp.seq} differs from checkpoint ${cp.seq} (signed ${cp.at}): events up to it were rewritten.`,
        });
      }
    }
    return {
      ok: findings.length === 0,
      count,
      unkeyed,
      head: { seq: prevSeq ?? 0, hash: prevHash },
      ...(cp && { checkpoint: { seq: cp.seq, hash: cp.hash, at: cp.at, keyId: cp.keyId, holds } }),
      afterCheckpoint: cp ? Math.max(0, (prevSeq ?? 0) - cp.seq) : count,
      macChecked: opts.keyring !== undefined,
      findings,
    };
  }

  return { push, finish, findings: () => findings };
}

/** Verifies records held in memory (an export). */
export function verifyRecords(records: Iterable<AuditRecord>, opts: VerifyOptions = {}): VerifyReport {
  const v = createVerifier(opts);
  for (const r of records) v.push(r);
  return v.finish();
}

/** A public key from PEM or a JWK (as `GET /v1/audit/checkpoints/key` publishes it). */
export function importPublicKey(key: string | Record<string, unknown>): KeyObject {
  return typeof key === 'string' ? createPublicKey(key) : createPublicKey({ key, format: 'jwk' });
}
