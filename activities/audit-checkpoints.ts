/**
 * Signed checkpoints of the audit chain, kept outside the database: the chain head (seq, hash, time) signed with
 * Ed25519 (node:crypto) and appended to a sink, periodically and on demand. Whoever can rewrite the database cannot
 * rewrite these, so deleting the newest events, or rewriting the chain even with the HMAC key, shows at verify.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createPublicKey, type KeyObject } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../platform/logger';
import { checkpointProblem, publicKeyId, signCheckpoint, type Checkpoint } from './audit-chain';

/** Where checkpoints go. A sink is append-only by contract: give it storage that refuses overwrites (WORM). */
export interface CheckpointSink {
  /** For messages: where the checkpoints are. */
  readonly where: string;
  write(checkpoint: Checkpoint): Promise<void>;
  /** The most recent entries, oldest first, as written (unparsed JSON values, possibly forged or garbled). */
  recent(): Promise<unknown[]>;
}

const TAIL_BYTES = 64 * 1024;

/** JSON lines appended to a file (the default); `recent` reads the file's tail only, so it stays cheap as it grows. */
export function fileSink(file: string): CheckpointSink {
  return {
    where: file,
    async write(checkpoint) {
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      // One write of one line with O_APPEND: concurrent writers (API and worker) never interleave within a line.
      await fs.promises.appendFile(file, `${JSON.stringify(checkpoint)}\n`, { encoding: 'utf8', mode: 0o644 });
    },
    async recent() {
      let handle: fs.promises.FileHandle;
      try {
        handle = await fs.promises.open(file, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      try {
        const { size } = await handle.stat();
        const start = Math.max(0, size - TAIL_BYTES);
        const buffer = Buffer.alloc(size - start);
        await handle.read(buffer, 0, buffer.length, start);
        const lines = buffer.toString('utf8').split('\n');
        if (start > 0) lines.shift(); // the first line may be cut
        return lines
          .filter((l) => l.trim() !== '')
          .map((l) => {
            try {
              return JSON.parse(l) as unknown;
            } catch {
              return { unparsable: l.slice(0, 80) };
            }
          });
      } finally {
        await handle.close();
      }
    },
  };
}

export interface Rejected {
  seq?: number;
  problem: string;
}

export type Checkpointer = ReturnType<typeof createCheckpointer>;

export interface CheckpointerDeps {
  pool: pg.Pool;
  signingKey: KeyObject;
  sink: CheckpointSink;
  log?: Logger;
}

export function createCheckpointer({ pool, signingKey, sink, log }: CheckpointerDeps) {
  const publicKey = createPublicKey(signingKey);
  const keyId = publicKeyId(publicKey);
  let lastSeq: number | undefined;

  /** Signs the committed head now and writes it to the sink; an empty chain has nothing to sign. */
  async function checkpoint(): Promise<Checkpoint | undefined> {
    // Only committed events are visible, and they commit in seq order (one writer at a time holds the chain lock),
    // so the head read here is a prefix of the chain however many appends are in flight.
    const { rows } = await pool.query<{ seq: string; hash: string }>(
      'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1',
    );
    const head = rows[0];
    if (!head) return undefined;
    const cp = signCheckpoint(signingKey, { seq: Number(head.seq), hash: head.hash }, new Date());
    await sink.write(cp);
    lastSeq = cp.seq;
    log?.info({ seq: cp.seq, keyId }, 'audit checkpoint written');
    return cp;
  }

  /** The newest checkpoint whose signature holds, and every recent entry that does not. */
  async function newest(): Promise<{ checkpoint?: Checkpoint; rejected: Rejected[] }> {
    let best: Checkpoint | undefined;
    const rejected: Rejected[] = [];
    for (const entry of await sink.recent()) {
      const problem = checkpointProblem(entry, publicKey);
      if (problem) {
        const seq = (entry as { seq?: unknown } | null)?.seq;
        rejected.push({ ...(typeof seq === 'number' && { seq }), problem });
        continue;
      }
      const cp = entry as Checkpoint;
      if (!best || cp.seq >= best.seq) best = cp;
    }
    return { ...(best && { checkpoint: best }), rejected };
  }

  /** Checkpoints every `intervalMs` while the head moves; returns the function that stops it. */
  function every(intervalMs: number): () => void {
    const tick = async () => {
      try {
        const { rows } = await pool.query<{ seq: string }>('SELECT max(seq) AS seq FROM audit_events');
        const seq = rows[0]?.seq === null || rows[0]?.seq === undefined ? undefined : Number(rows[0].seq);
        if (seq !== undefined && seq !== lastSeq) await checkpoint();
      } catch (err) {
        // The next tick tries again; a sink that stays down is what operators must hear about.
        log?.error({ err, sink: sink.where }, 'audit checkpoint failed');
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  return {
    checkpoint,
    newest,
    every,
    where: sink.where,
    /** What `GET /v1/audit/checkpoints/key` publishes. */
    publicKey: () => ({
      keyId,
      algorithm: 'Ed25519' as const,
      pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      jwk: publicKey.export({ format: 'jwk' }) as Record<string, string>,
    }),
  };
}
