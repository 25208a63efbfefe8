/**
 * The Docker deployments cannot be started here (no Docker engine in CI), so their wiring is checked statically:
 * the services and ports, that worker and api get exactly the environment their zod schemas accept, that the
 * search attributes registered match the single list the code uses, and the image's user; for the production
 * profile also that it refuses development authentication, keeps secrets in env files and publishes nothing
 * internal.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { PORTAL_DIST } from '../../api/portal';
import { apiEnvSchema, workerEnvSchema } from '../../platform/env';
import { searchAttributeKeys } from '../../workflows/search-attributes';

const root = path.join(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const serviceSchema = z.looseObject({
  image: z.string().optional(),
  build: z.unknown().optional(),
  command: z.union([z.string(), z.array(z.string())]).optional(),
  environment: z.union([z.record(z.string(), scalar.nullable()), z.array(z.string())]).optional(),
  ports: z
    .array(z.union([scalar, z.looseObject({ target: z.coerce.number(), published: scalar.optional() })]))
    .optional(),
  depends_on: z
    .union([
      z.array(z.string()),
      z.record(
        z.string(),
        z.object({
          condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']),
        }),
      ),
    ])
    .optional(),
  volumes: z
    .array(z.union([z.string(), z.looseObject({ type: z.string(), source: z.string().optional() })]))
    .optional(),
  healthcheck: z.looseObject({ test: z.union([z.string(), z.array(z.string())]) }).optional(),
  env_file: z.array(z.string()).optional(),
  networks: z.array(z.string()).optional(),
});
type Service = z.infer<typeof serviceSchema>;
const composeSchema = z.looseObject({
  services: z.record(z.string(), serviceSchema),
  networks: z.record(z.string(), z.looseObject({ internal: z.boolean().optional() }).nullable()).optional(),
});
type Compose = z.infer<typeof composeSchema>;

const loadCompose = (file: string): Compose => composeSchema.parse(parse(read(file), { merge: true }));
const compose = loadCompose('docker-compose.yml');

function service(name: string, from: Compose = compose): Service {
  const found = from.services[name];
  if (!found) throw new Error(`the compose file has no service ${name}`);
  return found;
}

type Vars = Record<string, string>;

/**
 * Resolves compose interpolation as `docker compose up` does: from `vars` (the `--env-file`), else the default;
 * `${NAME:?message}` stops with the message, as compose does. Without vars every variable must have a default.
 */
function interpolate(value: string, vars: Vars = {}): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, kind?: string, rest?: string, bare?: string) => {
      if (match === '$$') return '$';
      const name = (braced ?? bare) as string;
      const given = vars[name];
      if (given !== undefined && given !== '') return given;
      if (kind === '?') throw new Error(`required variable ${name} is missing a value: ${rest}`);
      if (kind !== '-') throw new Error(`${name} has no default in the compose file`);
      return rest ?? '';
    },
  );
}

/** A service's `environment:` as its process sees it; a key without a value is passed through from the host (unset here). */
function environmentOf(svc: Service, vars: Vars = {}): Record<string, string | undefined> {
  const env = svc.environment ?? {};
  const entries: [string, string | undefined][] = Array.isArray(env)
    ? env.map((line) => {
        const eq = line.indexOf('=');
        return eq < 0 ? [line, undefined] : [line.slice(0, eq), interpolate(line.slice(eq + 1), vars)];
      })
    : Object.entries(env).map(([key, value]) => [key, value === null ? undefined : interpolate(String(value), vars)]);
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined));
}

/** KEY=VALUE lines of an env file; comments, blank lines and commented-out (optional) keys are skipped. */
function envFile(file: string): Vars {
  return Object.fromEntries(
    read(file)
      .split(/\r?\n/)
      .filter((line) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** Keys an env file names, optional (commented-out) ones included. */
function envFileKeys(file: string): string[] {
  return [...read(file).matchAll(/^#?\s?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] as string);
}

function declaredKeys(svc: Service): string[] {
  const env = svc.environment ?? {};
  return Array.isArray(env) ? env.map((line) => line.split('=')[0] ?? line) : Object.keys(env);
}

/** `published:target` pairs, from the short (`'8080:8080'`) or long syntax. */
function publishedPorts(svc: Service): string[] {
  return (svc.ports ?? []).map((port) => {
    if (typeof port === 'object') return `${String(port.published)}:${port.target}`;
    const parts = String(port).split(':');
    return parts.slice(-2).join(':');
  });
}

/** Environment variables the demo config reads: `${NAME}` interpolation in values and `…Env: NAME` references. */
function demoConfigVariables(): Set<string> {
  const names = new Set<string>();
  const visit = (node: unknown, key?: string): void => {
    if (typeof node === 'string') {
      for (const m of node.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)) names.add(m[1] as string);
      if (key?.endsWith('Env')) names.add(node);
    } else if (Array.isArray(node)) {
      node.forEach((item) => visit(item));
    } else if (node && typeof node === 'object') {
      Object.entries(node).forEach(([k, v]) => visit(v, k));
    }
  };
  const dir = path.join(root, 'config', 'demo');
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    visit(parse(fs.readFileSync(path.join(dir, file), 'utf8')));
  }
  return names;
}

const searchAttributeListSchema = z
  .array(
    z.strictObject({
      name: z.string().regex(/^Grantflow[A-Za-z]+$/),
      type: z.enum(['Keyword', 'KeywordList', 'Text', 'Int', 'Double', 'Bool', 'Datetime']),
    }),
  )
  .min(1);
const searchAttributes = searchAttributeListSchema.parse(JSON.parse(read('scripts/search-attributes.json')));
const asPairs = (list: { name: string; type: string }[]) => list.map((a) => `${a.name}:${a.type}`).sort();

describe('docker-compose.yml', () => {
  const expected = [
    'temporal-db',
    'temporal',
    'temporal-setup',
    'temporal-ui',
    'app-db',
    'webhook-receiver',
    'worker',
    'api',
  ];

  it('has the deployment services', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(expected));
  });

  it('publishes the API on 8080, the Temporal UI on 8233, Temporal on 7233 and the webhook receiver on 8090', () => {
    expect(publishedPorts(service('api'))).toContain('8080:8080');
    expect(publishedPorts(service('temporal-ui'))).toContain('8233:8080');
    expect(publishedPorts(service('temporal'))).toContain('7233:7233');
    expect(publishedPorts(service('webhook-receiver'))).toContain('8090:8090');
  });

  it('runs worker, api and webhook receiver from the one app image, each with its own command', () => {
    const commands = ['worker', 'api', 'webhook-receiver'].map((name) => {
      const svc = service(name);
      expect(svc.build).toBeDefined();
      return [svc.image, svc.command];
    });
    expect(new Set(commands.map(([image]) => image)).size).toBe(1);
    expect(commands.map(([, command]) => command)).toEqual([
      ['npx', 'tsx', 'worker/main.ts'],
      ['npx', 'tsx', 'api/main.ts'],
      ['npx', 'tsx', 'scripts/webhook-receiver.ts'],
    ]);
  });

  describe.each([
    ['worker', workerEnvSchema],
    ['api', apiEnvSchema],
  ] as const)('%s environment', (name, schema) => {
    const svc = service(name);

    it('names only variables its env schema or the demo config knows', () => {
      const known = new Set([...Object.keys(schema.shape), ...demoConfigVariables()]);
      expect(declaredKeys(svc).filter((key) => !known.has(key))).toEqual([]);
    });

    it('passes the env schema with the compose defaults', () => {
      const result = schema.safeParse(environmentOf(svc));
      expect(result.success ? [] : result.error.issues).toEqual([]);
    });

    it('connects to the compose Temporal and app database', () => {
      const env = environmentOf(svc);
      expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(new URL(env.DATABASE_URL ?? '').host).toBe('app-db:5432');
      expect(env.GRANTFLOW_WEBHOOK_RECEIVER_URL).toBe('http://webhook-receiver:8090');
      expect(new URL(env.GRANTFLOW_ANALYTICS_DATABASE_URL ?? '').pathname).toBe('/analytics');
    });
  });

  it('gives the worker every variable the demo catalog reads', () => {
    const env = environmentOf(service('worker'));
    expect([...demoConfigVariables()].filter((key) => env[key] === undefined)).toEqual([]);
  });

  it('runs in development mode, with the development token secret on the api only', () => {
    expect(environmentOf(service('api')).NODE_ENV).toBe('development');
    expect(declaredKeys(service('worker'))).not.toContain('GRANTFLOW_DEV_JWT_SECRET');
  });

  it('registers every search attribute of scripts/search-attributes.json in the namespace the app uses', () => {
    const setup = service('temporal-setup');
    const env = environmentOf(setup);
    const registered = (env.GRANTFLOW_SEARCH_ATTRIBUTES ?? '').split(/\s+/).filter(Boolean).sort();
    expect(registered).toEqual(asPairs(searchAttributes));
    expect(interpolate([setup.command].flat().join('\n'))).toMatch(
      /for pair in \$GRANTFLOW_SEARCH_ATTRIBUTES[\s\S]*search-attribute create/,
    );
    expect(env.TEMPORAL_NAMESPACE).toBe(environmentOf(service('worker')).TEMPORAL_NAMESPACE);
    expect(env.TEMPORAL_NAMESPACE).toBe(environmentOf(service('api')).TEMPORAL_NAMESPACE);
  });

  it('depends only on services that exist, waiting on health only where a healthcheck is defined', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      const deps = svc.depends_on ?? [];
      const entries = Array.isArray(deps)
        ? deps.map((target) => [target, 'service_started'] as const)
        : Object.entries(deps).map(([target, { condition }]) => [target, condition] as const);
      for (const [target, condition] of entries) {
        expect({ name, target, exists: target in compose.services }).toEqual({ name, target, exists: true });
        if (condition === 'service_healthy') {
          expect({ name, target, healthcheck: Boolean(service(target).healthcheck) }).toEqual({
            name,
            target,
            healthcheck: true,
          });
        }
      }
    }
    expect(service('worker').depends_on).toMatchObject({
      'temporal-setup': { condition: 'service_completed_successfully' },
    });
    expect(service('api').depends_on).toMatchObject({
      'temporal-setup': { condition: 'service_completed_successfully' },
    });
  });

  it('mounts only files that exist in the repository', () => {
    const sources = Object.values(compose.services)
      .flatMap((svc) => svc.volumes ?? [])
      .map((volume) => (typeof volume === 'string' ? volume.split(':')[0] : volume.source))
      .filter((source): source is string => Boolean(source?.startsWith('.')));
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.filter((source) => !fs.existsSync(path.join(root, source)))).toEqual([]);
  });
});

describe('docker-compose.production.yml', () => {
  const production = loadCompose('docker-compose.production.yml');
  const svc = (name: string) => service(name, production);
  /** What an operator sets with `--env-file deploy/production.env`, as the example has it. */
  const settings = envFile('deploy/production.env.example');
  /** A service's whole environment: `environment:` interpolated from the settings, then its env files' examples. */
  const fullEnvironment = (name: string, overrides: Vars = {}, fileOverrides: Vars = {}) => ({
    ...environmentOf(svc(name), { ...settings, ...overrides }),
    ...Object.assign({}, ...(svc(name).env_file ?? []).map((file) => envFile(`${file}.example`))),
    ...fileOverrides,
  });

  it('has the deployment services and no demo webhook receiver', () => {
    expect(Object.keys(production.services).sort()).toEqual(
      ['temporal-db', 'temporal', 'temporal-setup', 'temporal-ui', 'app-db', 'worker', 'api'].sort(),
    );
  });

  it('runs worker and api in production mode, on the one app image, with the organisation’s configuration', () => {
    for (const name of ['worker', 'api']) {
      const env = fullEnvironment(name);
      expect(env.NODE_ENV).toBe('production');
      expect(env.GRANTFLOW_CONFIG_DIR).toBe('/etc/grantflow');
      expect(svc(name).image).toBe(service(name).image?.replace(':local', ':${GRANTFLOW_IMAGE_TAG:-local}'));
      expect(svc(name).volumes).toEqual([
        expect.stringMatching(/^\$\{GRANTFLOW_CONFIG_SOURCE:\?.*\}:\/etc\/grantflow:ro$/),
      ]);
    }
  });

  describe.each([
    ['worker', workerEnvSchema],
    ['api', apiEnvSchema],
  ] as const)('%s environment', (name, schema) => {
    it('names only variables its env schema knows, in the compose file and in its env file', () => {
      const known = new Set(Object.keys(schema.shape));
      const fromFiles = (svc(name).env_file ?? []).flatMap((file) => envFileKeys(`${file}.example`));
      // The worker's env file also lists the variables a catalog names (connector targets), by example.
      const catalogVariables = name === 'worker' ? demoConfigVariables() : new Set<string>();
      expect(
        [...declaredKeys(svc(name)), ...fromFiles].filter((key) => !known.has(key) && !catalogVariables.has(key)),
      ).toEqual([]);
    });

    it('passes the env schema with the example settings and env files', () => {
      const result = schema.safeParse(fullEnvironment(name));
      expect(result.success ? [] : result.error.issues).toEqual([]);
    });
  });

  it('refuses to start without OIDC settings, at compose and in the API itself', () => {
    expect(() => fullEnvironment('api', { OIDC_ISSUER: '' })).toThrow(
      /required variable OIDC_ISSUER .*set OIDC_ISSUER/,
    );
    expect(() => fullEnvironment('api', { OIDC_AUDIENCE: '' })).toThrow(/required variable OIDC_AUDIENCE/);
    const { OIDC_ISSUER: _issuer, ...withoutIssuer } = fullEnvironment('api');
    expect(apiEnvSchema.safeParse(withoutIssuer).success).toBe(false);
    expect(fullEnvironment('api').OIDC_ISSUER).toMatch(/^https:\/\//);
  });

  it('refuses development tokens even when someone adds the dev secret to an env file', () => {
    const withDevSecret = fullEnvironment('api', {}, { GRANTFLOW_DEV_JWT_SECRET: 'dev-only-jwt-secret-change-me' });
    const result = apiEnvSchema.safeParse(withDevSecret);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path[0])).toContain('GRANTFLOW_DEV_JWT_SECRET');
    expect(JSON.stringify(production)).not.toMatch(/DEV_JWT_SECRET|dev-only/);
  });

  it('writes no secret into the compose file: passwords, keys and database URLs come from env files', () => {
    for (const [name, s] of Object.entries(production.services)) {
      const keys = declaredKeys(s).filter((key) => /PASSWORD|PWD|SECRET|API_KEY|DATABASE_URL/.test(key));
      expect({ name, keys }).toEqual({ name, keys: [] });
    }
    const envFiles = Object.values(production.services).flatMap((s) => s.env_file ?? []);
    expect(envFiles.length).toBeGreaterThan(0);
    for (const file of new Set(envFiles)) {
      expect(file).toMatch(/^deploy\/[a-z-]+\.env$/);
      expect(fs.existsSync(path.join(root, `${file}.example`))).toBe(true);
    }
    expect(read('.gitignore').split(/\r?\n/)).toContain('deploy/*.env');
    expect(read('.dockerignore').split(/\r?\n/)).toContain('deploy');
    expect(fullEnvironment('worker').DATABASE_URL).toMatch(/@app-db:5432\/grantflow$/);
  });

  it('publishes only the API and the signed-in Temporal UI; Temporal and the databases are on the internal network only', () => {
    const published = Object.fromEntries(
      Object.entries(production.services).map(([name, s]) => [
        name,
        (s.ports ?? []).map((p) => interpolate(String(p), settings)),
      ]),
    );
    expect(published).toEqual({
      'temporal-db': [],
      temporal: [],
      'temporal-setup': [],
      'temporal-ui': ['127.0.0.1:8233:8080'],
      'app-db': [],
      worker: [],
      api: ['127.0.0.1:8080:8080'],
    });
    expect(production.networks?.backend?.internal).toBe(true);
    for (const name of ['temporal-db', 'temporal', 'temporal-setup', 'app-db'])
      expect(svc(name).networks).toEqual(['backend']);
    for (const name of ['worker', 'api', 'temporal-ui']) expect(svc(name).networks).toEqual(['backend', 'edge']);
  });

  it('runs the Temporal UI with sign-in required', () => {
    const env = fullEnvironment('temporal-ui');
    expect(env.TEMPORAL_AUTH_ENABLED).toBe('true');
    expect(env.TEMPORAL_AUTH_PROVIDER_URL).toMatch(/^https:\/\//);
    expect(env.TEMPORAL_AUTH_CLIENT_SECRET).toBeDefined();
    expect(() => fullEnvironment('temporal-ui', { TEMPORAL_UI_AUTH_PROVIDER_URL: '' })).toThrow(
      /never published without sign-in/,
    );
  });

  it('registers the search attributes with the same script as the development profile', () => {
    expect(svc('temporal-setup').command).toEqual(service('temporal-setup').command);
    expect(environmentOf(svc('temporal-setup'), settings).GRANTFLOW_SEARCH_ATTRIBUTES).toBe(
      environmentOf(service('temporal-setup')).GRANTFLOW_SEARCH_ATTRIBUTES,
    );
  });

  it('depends only on services that exist', () => {
    for (const [name, s] of Object.entries(production.services)) {
      for (const target of Object.keys(s.depends_on ?? {}))
        expect({ name, target, ok: target in production.services }).toEqual({ name, target, ok: true });
    }
  });
});

describe('scripts/search-attributes.json', () => {
  it('lists the same attributes as workflows/search-attributes.ts', () => {
    const typeNames: Record<string, string> = {
      KEYWORD: 'Keyword',
      KEYWORD_LIST: 'KeywordList',
      TEXT: 'Text',
      INT: 'Int',
      DOUBLE: 'Double',
      BOOL: 'Bool',
      DATETIME: 'Datetime',
    };
    const fromCode = searchAttributeKeys.map((key) => ({ name: key.name, type: typeNames[key.type] ?? key.type }));
    expect(asPairs(searchAttributes)).toEqual(asPairs(fromCode));
  });
});

describe('Dockerfile', () => {
  const instructions = read('Dockerfile')
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stageStarts = instructions.flatMap((line, i) => (/^FROM\s/i.test(line) ? [i] : []));
  const finalStage = instructions.slice(stageStarts.at(-1) ?? 0);

  it('builds on node:20-bookworm-slim', () => {
    expect(instructions.join('\n')).toMatch(/node:20-bookworm-slim/);
  });

  it('runs the final stage as a non-root user', () => {
    const user = finalStage
      .filter((line) => /^USER\s/i.test(line))
      .map((line) => line.replace(/^USER\s+/i, '').split(':')[0])
      .at(-1);
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('keeps host node_modules and local secrets out of the build context', () => {
    const ignored = read('.dockerignore').split(/\r?\n/);
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.env', '.git']));
  });

  it('builds the portal in a stage of its own and puts only its web/dist where the API serves it from', () => {
    const stages = stageStarts.map((start, i) => instructions.slice(start, stageStarts[i + 1]));
    const portal = stages.find((stage) => stage.some((line) => /^RUN\s.*\bvite build web\b/.test(line)));
    const name = portal?.[0]?.match(/\sAS\s+(\S+)$/i)?.[1];
    expect(name).toBeDefined();
    // A type error in the portal stops the image build, as it stops npm test.
    expect(portal?.some((line) => /^RUN\s.*\btsc -p web\b/.test(line))).toBe(true);
    expect(finalStage).toContain(`COPY --from=${name} /app/web/dist ./web/dist`);
    // After the sources, so nothing the context holds can replace it; the context holds no local build anyway.
    const copySources = finalStage.indexOf('COPY . .');
    expect(copySources).toBeGreaterThan(-1);
    expect(finalStage.indexOf(`COPY --from=${name} /app/web/dist ./web/dist`)).toBeGreaterThan(copySources);
    expect(read('.dockerignore').split(/\r?\n/)).toContain('web/dist');
    expect(finalStage).toContain('WORKDIR /app');
    expect(path.relative(root, PORTAL_DIST)).toBe(path.join('web', 'dist'));
  });
});
