/**
 * As root, the embedded PostgreSQL runs as the system user `postgres` (PostgreSQL refuses root), and that user must
 * reach its binaries (in node_modules) and its data folder. In a clone under a folder closed to others (/root, mode
 * 700) it cannot, and initdb would die with a bare EACCES: this says so first, and what to do.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The user PostgreSQL will run as: `postgres` if it exists, else one like it will be (no rights beyond others'). */
export function postgresRunner(): { name: string; uid: number; gid: number } {
  const id = (flag: string, name: string) => spawnSync('id', [flag, name], { encoding: 'utf8' });
  const uid = id('-u', 'postgres');
  const gid = id('-g', 'postgres');
  if (uid.status === 0 && gid.status === 0)
    return { name: 'postgres', uid: Number(uid.stdout), gid: Number(gid.stdout) };
  return { name: 'nobody', uid: 65534, gid: 65534 };
}

/**
 * The first path that `runner` cannot reach: a binary it cannot execute, or a data folder (or, while it does not
 * exist yet, its nearest existing parent) it cannot enter. Asked of the kernel itself, by a shell running as that
 * user, so modes, groups and ACLs all count.
 */
export function unreachablePath(
  runner: { uid: number; gid: number },
  binaries: readonly string[],
  dataDir: string,
): string | undefined {
  let folder = path.resolve(dataDir);
  while (!fs.existsSync(folder) && path.dirname(folder) !== folder) folder = path.dirname(folder);
  const checks: [string, string][] = [...binaries.map((b): [string, string] => ['-x', b]), ['-x', folder]];
  for (const [flag, target] of checks) {
    const probe = spawnSync('/bin/sh', ['-c', `test ${flag} "$1"`, 'sh', target], { uid: runner.uid, gid: runner.gid });
    if (probe.status !== 0) return target;
  }
  return undefined;
}

/** The sentence to stop with, or undefined when the embedded PostgreSQL can run. */
export function accessProblem(
  runner: { name: string; uid: number; gid: number },
  binaries: readonly string[],
  dataDir: string,
): string | undefined {
  const blocked = unreachablePath(runner, binaries, dataDir);
  if (!blocked) return undefined;
  return (
    `Running as root, the embedded PostgreSQL runs as the system user "${runner.name}", who cannot reach ${blocked} ` +
    `(a folder on the way is closed to other users, as /root is with mode 700). Clone grantflow where other users ` +
    `may enter (e.g. /srv/grantflow or /opt/grantflow) and run npm install there, run it as an ordinary user, or set ` +
    `DATABASE_URL to a PostgreSQL of your own.`
  );
}
