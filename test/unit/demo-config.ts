import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { z } from 'zod';
import { interpolateEnv, parseConfigs, type Config } from '../../domain/config';
import {
  requestInputSchema,
  type catalogSchema,
  type directorySchema,
  type Identity,
  type policySchema,
  type RequestFacts,
} from '../../domain/model';

/** The demo configuration as read from YAML, before parsing: tests change it to build awkward cases. */
export interface RawConfig {
  directory: z.input<typeof directorySchema>;
  catalog: z.input<typeof catalogSchema>;
  policy: z.input<typeof policySchema>;
}

export const demoFiles = {
  directory: 'config/demo/directory.yaml',
  catalog: 'config/demo/catalog.yaml',
  policy: 'config/demo/policy.yaml',
};

const root = join(__dirname, '..', '..');

export function readDemoText(name: keyof typeof demoFiles): string {
  return readFileSync(join(root, demoFiles[name]), 'utf8');
}

/** A fresh copy of the demo documents each call. */
export function demoRaw(): RawConfig {
  const read = (name: keyof typeof demoFiles) => parse(interpolateEnv(readDemoText(name), {}, demoFiles[name]));
  return { directory: read('directory'), catalog: read('catalog'), policy: read('policy') };
}

/** The demo configuration, optionally changed first. */
export function demoConfig(change?: (raw: RawConfig) => void): Config {
  const raw = demoRaw();
  change?.(raw);
  return parseConfigs(raw, demoFiles);
}

/** A user in the raw directory, to change in place. */
export function rawUser(raw: RawConfig, id: string): z.input<typeof directorySchema>['users'][number] {
  const user = raw.directory.users.find((u) => u.id === id);
  if (!user) throw new Error(`no user ${id} in the demo directory`);
  return user;
}

export function user(config: Config, id: string): Identity {
  const found = config.users.get(id);
  if (!found) throw new Error(`no user ${id}`);
  return found;
}

/** A Tuesday at 10:00 UTC: inside working hours. */
export const NOW = '2026-11-24T10:00:00Z';

type InputLike = Omit<z.input<typeof requestInputSchema>, 'justification'> & { justification?: string };

/** Request facts for `requester` asking for `input`, with a justification, at NOW, holding nothing. */
export function facts(
  requester: string,
  input: InputLike,
  extra: Partial<Omit<RequestFacts, 'requester' | 'input'>> = {},
): RequestFacts {
  return {
    requestId: 'req-1',
    requester,
    input: requestInputSchema.parse({ justification: 'Needed for the quarterly analytics report', ...input }),
    now: NOW,
    holdings: [],
    heldResourceBefore: true,
    ...extra,
  };
}
