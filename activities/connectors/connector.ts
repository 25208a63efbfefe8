import { ApplicationFailure } from '@temporalio/common';
import type { ConnectorConfig, GrantSpec } from '../../domain/model';
import type { Logger } from '../../platform/logger';
import type { GrantInput } from '../types';

export interface RevokeInput {
  requestId: string;
  grant: GrantSpec;
}

export type CheckInput = RevokeInput;

/**
 * Provisions access at a target system. Every method is idempotent: repeating a call (an activity retry) leaves the
 * target as one call would. Failures worth retrying throw; a refusal that retrying cannot fix throws a non-retryable
 * ApplicationFailure (`ConnectorRejected`, `ConnectorMisconfigured`).
 */
export interface Connector {
  grant(input: GrantInput): Promise<void>;
  revoke(input: RevokeInput): Promise<void>;
  /** Whether the beneficiary holds the target now. */
  check(input: CheckInput): Promise<boolean>;
}

export type ConnectorConfigOf<T extends ConnectorConfig['type']> = Extract<ConnectorConfig, { type: T }>;

export interface ConnectorDeps {
  /** Where the variables a connector's config names (`connectionEnv`, `secretEnv`) are read. */
  env: Readonly<Record<string, string | undefined>>;
  log?: Logger;
  /** How long one call to the target may take. */
  timeoutMs: number;
}

/** Reads a variable the catalog names; its absence is a deployment mistake no retry can fix. */
export function requireEnv(env: ConnectorDeps['env'], name: string, purpose: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw ApplicationFailure.nonRetryable(
      `The environment variable ${name} (${purpose}) is not set on the worker.`,
      'ConnectorMisconfigured',
    );
  }
  return value;
}
