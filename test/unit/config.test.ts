import { ConfigFileError, interpolateEnv, parseConfigs } from '../../domain/config';
import { demoConfig, demoFiles, demoRaw, rawUser, readDemoText, type RawConfig } from './demo-config';

function configError(change: (raw: RawConfig) => void): ConfigFileError {
  try {
    demoConfig(change);
  } catch (err) {
    if (err instanceof ConfigFileError) return err;
    throw err;
  }
  throw new Error('expected a ConfigFileError');
}

function resource(raw: RawConfig, id: string) {
  const found = raw.catalog.resources.find((r) => r.id === id);
  if (!found) throw new Error(`no resource ${id}`);
  return found;
}

describe('parseConfigs', () => {
  it('loads the demo organisation', () => {
    const config = demoConfig();
    expect([...config.users.keys()]).toEqual(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'svc-ci']);
    expect([...config.entitlements.keys()]).toEqual([
      'github:member',
      'analytics-db:read',
      'analytics-db:write',
      'payroll:viewer',
      'payroll:approver',
      'aws-prod:admin',
      'design-studio:editor',
    ]);
    expect(config.policy.version).toBe('2026-11-23.1');
  });

  it('flattens entitlements with the resource and the effective sensitivity', () => {
    const config = demoConfig();
    const write = config.entitlements.get('analytics-db:write');
    expect(write).toMatchObject({
      id: 'analytics-db:write',
      role: 'write',
      sensitivity: 'high',
      target: 'analytics_write',
    });
    expect(write?.resource.id).toBe('analytics-db');
    expect(config.entitlements.get('analytics-db:read')?.sensitivity).toBe('medium');
    expect(config.entitlements.get('aws-prod:admin')).toMatchObject({ privileged: true, breakGlass: { ttl: 'PT4H' } });
  });

  it('reports an unknown manager with file, path and problem', () => {
    const err = configError((raw) => (rawUser(raw, 'alice').manager = 'zed'));
    expect(err.message).toBe('config/demo/directory.yaml: users[0].manager: unknown user "zed"');
    expect(err.problems).toEqual([
      { file: demoFiles.directory, path: 'users[0].manager', message: 'unknown user "zed"' },
    ]);
  });

  it('uses plain file names when none are given', () => {
    const raw = demoRaw();
    rawUser(raw, 'alice').manager = 'zed';
    expect(() => parseConfigs(raw)).toThrow('directory.yaml: users[0].manager: unknown user "zed"');
  });

  it('reports schema errors with their path', () => {
    const err = configError((raw) => (rawUser(raw, 'carol').email = 'not-an-email'));
    expect(err.message).toMatch(/^config\/demo\/directory\.yaml: users\[2\]\.email: /);
  });

  it('reports duplicate user ids', () => {
    const err = configError((raw) => raw.directory.users.push({ id: 'bob', name: 'Another Bob' }));
    expect(err.message).toBe('config/demo/directory.yaml: users[8].id: duplicate user id "bob" (first at users[1])');
  });

  it('checks owners, delegates and managers of people', () => {
    const err = configError((raw) => {
      rawUser(raw, 'svc-ci').owner = 'nobody';
      rawUser(raw, 'frank').delegation = { to: 'ghost', until: '2099-01-01T00:00:00Z' };
      rawUser(raw, 'grace').manager = 'svc-ci';
      rawUser(raw, 'dave').manager = 'dave';
    });
    expect(err.message.split('\n')).toEqual([
      'config/demo/directory.yaml: users[3].manager: "dave" cannot be their own manager',
      'config/demo/directory.yaml: users[5].delegation.to: unknown user "ghost"',
      'config/demo/directory.yaml: users[6].manager: "svc-ci" is a service account; a manager must be a person',
      'config/demo/directory.yaml: users[7].owner: unknown user "nobody"',
    ]);
  });

  it('requires an owner for a service account and only for one', () => {
    const err = configError((raw) => {
      delete rawUser(raw, 'svc-ci').owner;
      rawUser(raw, 'alice').owner = 'bob';
    });
    expect(err.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'users[0].owner: only service accounts have an owner; "alice" is a person',
      'users[7].owner: service account "svc-ci" needs an owner',
    ]);
  });

  it('reports a loop in the manager chain once', () => {
    const err = configError((raw) => (rawUser(raw, 'erin').manager = 'bob'));
    expect(err.problems).toEqual([
      { file: demoFiles.directory, path: 'users[1].manager', message: 'manager chain loops: bob → erin → bob' },
    ]);
  });

  it('reports unknown users and groups in the catalog', () => {
    const err = configError((raw) => {
      resource(raw, 'github').owners = ['group:platform'];
      resource(raw, 'analytics-db').owners = ['user:zed', 'manager'];
    });
    expect(err.message.split('\n')).toEqual([
      'config/demo/catalog.yaml: resources[0].owners[0]: unknown group "platform" (no user in config/demo/directory.yaml belongs to it)',
      'config/demo/catalog.yaml: resources[1].owners[0]: unknown user "zed"',
      'config/demo/catalog.yaml: resources[1].owners[1]: must be user:<id> or group:<id>, not "manager"',
    ]);
  });

  it('reports unknown fulfillers of a manual connector', () => {
    const err = configError((raw) => {
      const payroll = resource(raw, 'payroll');
      payroll.connector = { type: 'manual', fulfillers: ['group:payroll-ops'], sla: 'P2D' };
    });
    expect(err.problems[0]?.path).toBe('resources[2].connector.fulfillers[0]');
  });

  it('reports conflicts that name unknown entitlements', () => {
    const err = configError((raw) => {
      const viewer = resource(raw, 'payroll').entitlements[0];
      if (viewer) viewer.conflicts = ['payroll:aprover'];
    });
    expect(err.message).toBe(
      'config/demo/catalog.yaml: resources[2].entitlements[0].conflicts[0]: unknown entitlement "payroll:aprover"',
    );
  });

  it('reports a maximum duration shorter than the default, and a break-glass ttl beyond the maximum', () => {
    const err = configError((raw) => {
      const read = resource(raw, 'analytics-db').entitlements[0];
      if (read) read.maxDuration = 'P7D';
      const admin = resource(raw, 'aws-prod').entitlements[0];
      if (admin) admin.breakGlass = { ttl: 'P2D' };
    });
    expect(err.message.split('\n')).toEqual([
      'config/demo/catalog.yaml: resources[1].entitlements[0].maxDuration: P7D is shorter than defaultDuration P30D',
      'config/demo/catalog.yaml: resources[3].entitlements[0].breakGlass.ttl: P2D is longer than maxDuration P1D',
    ]);
  });

  it('requires a plain role name as the target of a postgres-role connector', () => {
    const err = configError((raw) => {
      const read = resource(raw, 'analytics-db').entitlements[0];
      if (read) read.target = 'Analytics-Read';
    });
    expect(err.message).toBe(
      'config/demo/catalog.yaml: resources[1].entitlements[0].target: "Analytics-Read" is not a plain PostgreSQL role name (lower-case letters, digits, _)',
    );
  });

  it('reports an invalid field pattern', () => {
    const err = configError((raw) => {
      const write = resource(raw, 'analytics-db').entitlements[1];
      if (write) write.fields = [{ name: 'ticket', label: 'Ticket', pattern: '^CHG-[0-9' }];
    });
    expect(err.message).toMatch(
      /^config\/demo\/catalog\.yaml: resources\[1\]\.entitlements\[1\]\.fields\[0\]\.pattern: invalid regular expression: /,
    );
  });

  it('reports an unknown security group and unknown approvers in the policy', () => {
    const err = configError((raw) => {
      raw.policy.roles.security = 'secops';
      const stages = raw.policy.rules[1]?.plan;
      if (Array.isArray(stages) && stages[0]) stages[0].approvers = ['manager', 'user:zed'];
    });
    expect(err.message.split('\n')).toEqual([
      'config/demo/policy.yaml: roles.security: unknown group "secops" (no user in config/demo/directory.yaml belongs to it)',
      'config/demo/policy.yaml: rules[1].plan[0].approvers[1]: unknown user "zed"',
    ]);
  });

  it('reports unknown entitlements in rules and rules that can never match', () => {
    const err = configError((raw) => {
      raw.policy.rules[0] = {
        name: 'odd',
        when: { entitlements: ['github:owner'], riskAtLeast: 'high', riskAtMost: 'low' },
        plan: 'auto-approve',
      };
    });
    expect(err.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'rules[0].when.entitlements[0]: unknown entitlement "github:owner"',
      'rules[0].when: riskAtLeast high is above riskAtMost low, so the rule never matches',
    ]);
  });

  it('reports an escalation that comes after the deadline', () => {
    const err = configError((raw) => (raw.policy.breakGlassReview.sla.escalateAfter = 'P2D'));
    expect(err.message).toBe(
      'config/demo/policy.yaml: breakGlassReview.sla.escalateAfter: P2D is not before the deadline PT24H',
    );
  });

  it('reports every file with problems at once', () => {
    const err = configError((raw) => {
      raw.directory.users = [];
      raw.policy.version = '';
    });
    expect(err.problems.map((p) => p.file)).toEqual([demoFiles.directory, demoFiles.policy]);
  });
});

describe('interpolateEnv', () => {
  it('substitutes variables and defaults', () => {
    const text = 'a: ${A}\nb: ${B:-two}\nc: ${C:-three}';
    expect(interpolateEnv(text, { A: 'one', C: 'see' })).toBe('a: one\nb: two\nc: see');
  });

  it('uses the default for an empty variable, like the shell', () => {
    expect(interpolateEnv('x: ${X:-fallback}', { X: '' })).toBe('x: fallback');
    expect(interpolateEnv('x: "${X}"', { X: '' })).toBe('x: ""');
  });

  it('names every missing variable and its line', () => {
    expect(() => interpolateEnv('a: 1\nurl: ${URL}\nkey: ${KEY}', {}, 'catalog.yaml')).toThrow(
      'catalog.yaml: line 2: environment variable URL is not set and has no default\n' +
        'catalog.yaml: line 3: environment variable KEY is not set and has no default',
    );
  });

  it('leaves comment lines alone', () => {
    expect(interpolateEnv('# use ${VAR} here\nx: 1', {})).toBe('# use ${VAR} here\nx: 1');
  });

  it('refuses a value with a line break, which could add keys', () => {
    expect(() => interpolateEnv('x: ${X}', { X: 'a\nadmin: true' })).toThrow(/X must not contain a line break/);
  });

  it('fills the demo catalog with its defaults', () => {
    const text = interpolateEnv(readDemoText('catalog'), {});
    expect(text).toContain("url: 'http://127.0.0.1:8090/github'");
    expect(interpolateEnv(readDemoText('catalog'), { GRANTFLOW_WEBHOOK_RECEIVER_URL: 'https://hooks.test' })).toContain(
      "url: 'https://hooks.test/aws'",
    );
  });
});
