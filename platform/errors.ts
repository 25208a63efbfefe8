/** A process cannot start as configured; the message is the sentence an operator reads. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
