import fs from 'node:fs';
import path from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { parseCampaigns, type CampaignDefinitions } from '../domain/campaign';
import { ConfigFileError, interpolateEnv, type Config } from '../domain/config';

/**
 * Reads `campaigns.yaml` beside the policy and checks it against the catalog and directory; a directory without
 * the file has no campaigns. Every problem is a ConfigFileError naming the file and where in it.
 */
export function loadCampaigns(
  dir: string,
  config: Config,
  env: Record<string, string | undefined> = process.env,
): CampaignDefinitions {
  const file = path.join(dir, 'campaigns.yaml');
  if (!fs.existsSync(file)) return { version: 'none', byId: new Map() };
  const text = interpolateEnv(fs.readFileSync(file, 'utf8'), env, file);
  let raw: unknown;
  try {
    raw = parse(text, { logLevel: 'error' });
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err;
    const at = err.linePos?.[0];
    const message = (err.message.split('\n')[0] ?? err.message).replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigFileError([{ file, path: at ? `line ${at.line}, column ${at.col}` : '', message }]);
  }
  return parseCampaigns(raw, config, file);
}
