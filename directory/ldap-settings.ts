import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ConfigFileError, interpolateEnv } from '../domain/config';
import { ldapSettingsSchema, type LdapSettings } from './ldap';

/** Reads `ldap.yaml` from the configuration folder; `${VAR}` supplies the bind password from the environment. */
export function loadLdapSettings(dir: string, env: Record<string, string | undefined> = process.env): LdapSettings {
  const file = path.join(dir, 'ldap.yaml');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError([{ file, path: '', message: `cannot read the file (${(err as Error).message})` }]);
  }
  const result = ldapSettingsSchema.safeParse(parse(interpolateEnv(text, env, file), { logLevel: 'error' }));
  if (result.success) return result.data;
  throw new ConfigFileError(
    result.error.issues.map((i) => ({ file, path: i.path.map(String).join('.'), message: i.message })),
  );
}
