/**
 * Exit codes of `llm-proxy` (documented in docs/cli.md):
 * 0 ok · 1 the gateway refused the request (4xx) · 2 usage error (bad flags, bad input file)
 * 3 the gateway cannot be reached, timed out, or failed (5xx).
 */
export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one clear line (plus a hint) and turns into an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly hint?: string,
    /** The API's error envelope, printed as is under --json. */
    readonly body?: unknown,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string, hint?: string) => new CliError(message, EXIT.usage, hint);
