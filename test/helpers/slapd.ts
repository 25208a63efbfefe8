import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../../scripts/temporal';

export const SUFFIX = 'dc=example,dc=test';
export const ADMIN_DN = `cn=admin,${SUFFIX}`;
export const ADMIN_PASSWORD = 'slapd-test-admin';
/** A bind whose paged searches the server stops after a few entries: a directory that fails half-way. */
export const LIMITED_DN = `cn=limited,${SUFFIX}`;
export const LIMITED_PASSWORD = 'slapd-test-limited';
const SLAPD = '/usr/sbin/slapd';
const SLAPADD = '/usr/sbin/slapadd';

export interface Slapd {
  url: string;
  dir: string;
  /** Applies LDIF change records (ldapmodify syntax) as the admin. */
  modify(ldif: string): void;
  stop(): Promise<void>;
}

/** Active Directory's account attributes, so the mapping of disabled and expired accounts meets a real server. */
const AD_SCHEMA = `
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.159 NAME 'accountExpires' EQUALITY integerMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.1 NAME 'grantflowTestAccount' AUXILIARY
  MAY ( userAccountControl $ accountExpires ) )
`;

/**
 * A real OpenLDAP on a free loopback port with a generated slapd.conf and the seed loaded by slapadd; as root it
 * drops to the openldap user, so the server itself never runs privileged.
 */
export async function startSlapd(seed: string): Promise<Slapd> {
  if (!fs.existsSync(SLAPD)) throw new Error(`${SLAPD} is missing; bash .ci/run installs slapd (apt-get).`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantflow-slapd-'));
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  const conf = path.join(dir, 'slapd.conf');
  fs.writeFileSync(
    conf,
    [
      ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include /etc/ldap/schema/${s}.schema`),
      AD_SCHEMA,
      `pidfile ${dir}/slapd.pid`,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'database mdb',
      `suffix "${SUFFIX}"`,
      `rootdn "${ADMIN_DN}"`,
      `rootpw ${ADMIN_PASSWORD}`,
      `directory ${data}`,
      'maxsize 67108864',
      `limits dn.exact="${LIMITED_DN}" size.prtotal=3`,
      'access to * by * read',
      '',
    ].join('\n'),
  );
  const seedFile = path.join(dir, 'seed.ldif');
  fs.writeFileSync(seedFile, seed);
  const added = spawnSync(SLAPADD, ['-f', conf, '-l', seedFile], { encoding: 'utf8' });
  if (added.status !== 0) throw new Error(`slapadd failed: ${added.stderr}`);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) spawnSync('chown', ['-R', 'openldap:openldap', dir]);

  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    SLAPD,
    ['-f', conf, '-h', `${url}/`, '-d', '0', ...(asRoot ? ['-u', 'openldap', '-g', 'openldap'] : [])],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitForPort(port, 15_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`slapd did not start: ${stderr || (err as Error).message}`, { cause: err });
  }
  return {
    url,
    dir,
    modify(ldif: string) {
      const r = spawnSync('ldapmodify', ['-x', '-H', url, '-D', ADMIN_DN, '-w', ADMIN_PASSWORD], {
        input: ldif,
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`ldapmodify failed: ${r.stderr}`);
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SeedUser {
  uid: string;
  cn: string;
  department?: string;
  manager?: string;
  /** userAccountControl; 514 is a disabled account in Active Directory. */
  control?: number;
  /** accountExpires as Windows FILETIME. */
  expires?: string;
}

export const userDn = (uid: string) => `uid=${uid},ou=people,${SUFFIX}`;

/** The seed LDIF: the suffix, people, groups (groupOfNames with member DNs) and the limited bind. */
export function seedLdif(users: SeedUser[], groups: Record<string, string[]>): string {
  const blocks = [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example`,
    `dn: ou=people,${SUFFIX}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=groups,${SUFFIX}\nobjectClass: organizationalUnit\nou: groups`,
    `dn: ${LIMITED_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: limited\nsn: limited\nuserPassword: ${LIMITED_PASSWORD}`,
    ...users.map((u) =>
      [
        `dn: ${userDn(u.uid)}`,
        'objectClass: inetOrgPerson',
        'objectClass: grantflowTestAccount',
        `uid: ${u.uid}`,
        `cn: ${u.cn}`,
        `sn: ${u.cn.split(' ').pop() ?? u.cn}`,
        `mail: ${u.uid}@example.test`,
        ...(u.department ? [`departmentNumber: ${u.department}`] : []),
        ...(u.manager ? [`manager: ${userDn(u.manager)}`] : []),
        `userAccountControl: ${u.control ?? 512}`,
        ...(u.expires ? [`accountExpires: ${u.expires}`] : []),
      ].join('\n'),
    ),
    ...Object.entries(groups).map(([cn, members]) =>
      [
        `dn: cn=${cn},ou=groups,${SUFFIX}`,
        'objectClass: groupOfNames',
        `cn: ${cn}`,
        ...members.map((m) => `member: ${userDn(m)}`),
      ].join('\n'),
    ),
  ];
  return `${blocks.join('\n\n')}\n`;
}
