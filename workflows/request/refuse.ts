import { ApplicationFailure } from '@temporalio/workflow';
import type { RefusalType } from '../messages';

/** Refuses a message: validators throw this, so a refused update leaves no trace in the history. */
export function refuse(type: RefusalType, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}
