// Secrets the worker reads only when they are set. `wrangler types` declares the required ones
// ([secrets] required in wrangler.toml); these are merged into the same Env.

interface OptionalSecrets {
  /**
   * While ENCRYPTION_KEY is rotated: the key before it, accepted for decryption only, until the cron has
   * re-encrypted every stored upstream key under the new one (docs/operations.md).
   */
  ENCRYPTION_KEY_PREVIOUS?: string;
}

interface Env extends OptionalSecrets {}

declare namespace Cloudflare {
  interface Env extends OptionalSecrets {}
}
