/** Named error classes. A thrown error in a function handler means "deliver again". */

/** The mappings file is invalid; `problems` holds one `FILE:LINE:COL message` per finding. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Bad input that no retry can fix: acknowledge and log. */
export class PermanentError extends Error {
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** A fault outside pushrun that may pass (5xx, unreachable, UNAVAILABLE): retry. */
export class TransientError extends Error {
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** A live config version too large to store (Firestore's 1 MiB document limit): nothing stored. */
export class VersionTooLargeError extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'VersionTooLargeError';
  }
}

/** The message of any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
