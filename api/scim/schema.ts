/** The SCIM schemas this service provider supports (RFC 7643 §4, §8.7), declared once: served and enforced. */

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

export interface AttributeDef {
  name: string;
  type: 'string' | 'boolean' | 'complex' | 'reference' | 'dateTime' | 'integer';
  multiValued: boolean;
  required: boolean;
  caseExact: boolean;
  mutability: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned: 'always' | 'default' | 'never' | 'request';
  uniqueness: 'none' | 'server' | 'global';
  description: string;
  subAttributes?: AttributeDef[];
  referenceTypes?: string[];
  canonicalValues?: string[];
}

type Options = Partial<Omit<AttributeDef, 'name' | 'type' | 'description'>>;

function attr(name: string, type: AttributeDef['type'], description: string, opts: Options = {}): AttributeDef {
  return {
    name,
    type,
    multiValued: false,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    description,
    ...opts,
  };
}

const s = (name: string, description: string, opts?: Options) => attr(name, 'string', description, opts);
const complex = (name: string, description: string, subAttributes: AttributeDef[], opts?: Options) =>
  attr(name, 'complex', description, { ...opts, subAttributes });
const kind = (values: string[]) => s('type', 'A label for the value.', { canonicalValues: values });
const primary = attr('primary', 'boolean', 'Whether this is the preferred value.');

export const userAttributes: AttributeDef[] = [
  s('userName', 'The unique name the identity provider signs the user in with.', {
    required: true,
    uniqueness: 'server',
  }),
  complex('name', "The components of the user's name.", [
    s('formatted', 'The full name, formatted for display.'),
    s('familyName', 'The family name.'),
    s('givenName', 'The given name.'),
    s('middleName', 'The middle name.'),
    s('honorificPrefix', 'E.g. Ms.'),
    s('honorificSuffix', 'E.g. III.'),
  ]),
  s('displayName', 'The name shown to people (approvers see it).'),
  s('nickName', 'A casual name.'),
  attr('profileUrl', 'reference', 'A page about the user.', { referenceTypes: ['external'] }),
  s('title', 'Job title.'),
  s('userType', 'E.g. Employee, Contractor.'),
  s('preferredLanguage', 'Preferred language, e.g. en-US.'),
  s('locale', 'Locale, e.g. en-US.'),
  s('timezone', 'Time zone, e.g. Europe/Paris.'),
  s('password', 'Accepted (Okta sends one) and never stored: people sign in at the identity provider.', {
    mutability: 'writeOnly',
    returned: 'never',
  }),
  attr('active', 'boolean', 'False deactivates the user: grantflow offboards them.'),
  complex(
    'emails',
    'Email addresses; the primary (or work) one is the identity email.',
    [s('value', 'The address.'), s('display', 'A label.'), kind(['work', 'home', 'other']), primary],
    { multiValued: true },
  ),
  complex(
    'phoneNumbers',
    'Phone numbers.',
    [s('value', 'The number.'), s('display', 'A label.'), kind(['work', 'home', 'mobile', 'fax', 'other']), primary],
    { multiValued: true },
  ),
  complex(
    'addresses',
    'Postal addresses.',
    [
      s('formatted', 'The full address.'),
      s('streetAddress', 'Street.'),
      s('locality', 'City.'),
      s('region', 'Region.'),
      s('postalCode', 'Postal code.'),
      s('country', 'Country.'),
      kind(['work', 'home', 'other']),
      primary,
    ],
    { multiValued: true },
  ),
  complex(
    'roles',
    'Roles at the identity provider (Entra ID sends them, often empty); kept, not used for access.',
    [s('value', 'The role.'), s('display', 'A label.'), s('type', 'A label for the role.'), primary],
    { multiValued: true },
  ),
  complex(
    'groups',
    'The groups the user belongs to; change them through Groups.',
    [
      s('value', 'The group id.', { mutability: 'readOnly' }),
      attr('$ref', 'reference', 'The group.', { mutability: 'readOnly', referenceTypes: ['Group'] }),
      s('display', 'The group name.', { mutability: 'readOnly' }),
      s('type', 'direct.', { mutability: 'readOnly', canonicalValues: ['direct', 'indirect'] }),
    ],
    { multiValued: true, mutability: 'readOnly' },
  ),
];

export const enterpriseAttributes: AttributeDef[] = [
  s('employeeNumber', 'Employee number.'),
  s('costCenter', 'Cost center.'),
  s('organization', 'Organization.'),
  s('division', 'Division.'),
  s('department', 'Department: requests outside it raise the risk.'),
  complex('manager', 'The manager: first approver of most requests.', [
    s('value', 'The SCIM id of the manager.'),
    attr('$ref', 'reference', 'The manager.', { referenceTypes: ['User'] }),
    s('displayName', "The manager's name.", { mutability: 'readOnly' }),
  ]),
];

export const groupAttributes: AttributeDef[] = [
  s('displayName', 'The group name; its grantflow id is derived from it once, at creation.', {
    required: true,
    uniqueness: 'server',
  }),
  complex(
    'members',
    'The users in the group.',
    [
      s('value', 'The SCIM id of the member.', { mutability: 'immutable' }),
      attr('$ref', 'reference', 'The member.', { mutability: 'immutable', referenceTypes: ['User'] }),
      s('display', "The member's name.", { mutability: 'readOnly' }),
      s('type', 'User.', { mutability: 'immutable', canonicalValues: ['User'] }),
    ],
    { multiValued: true },
  ),
];

/** Attributes every resource has (RFC 7643 §3.1). */
export const COMMON_ATTRIBUTES = ['id', 'externalId', 'meta', 'schemas'];

export function schemaDocuments(baseUrl: string) {
  const doc = (id: string, name: string, description: string, attributes: AttributeDef[]) => ({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id,
    name,
    description,
    attributes,
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${id}` },
  });
  return [
    doc(USER_SCHEMA, 'User', 'A person in the directory.', userAttributes),
    doc(ENTERPRISE_SCHEMA, 'EnterpriseUser', 'Department and manager.', enterpriseAttributes),
    doc(GROUP_SCHEMA, 'Group', 'A group: approvers and policy roles name groups.', groupAttributes),
  ];
}

export function resourceTypeDocuments(baseUrl: string) {
  const meta = (id: string) => ({ resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${id}` });
  return [
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      description: 'People and their managers.',
      schema: USER_SCHEMA,
      schemaExtensions: [{ schema: ENTERPRISE_SCHEMA, required: false }],
      meta: meta('User'),
    },
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
      id: 'Group',
      name: 'Group',
      endpoint: '/Groups',
      description: 'Groups of people.',
      schema: GROUP_SCHEMA,
      schemaExtensions: [],
      meta: meta('Group'),
    },
  ];
}

export const MAX_RESULTS = 200;

export function serviceProviderConfig(baseUrl: string) {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'A token per identity provider, issued with `npm run scim:token -- <provider>`.',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}
