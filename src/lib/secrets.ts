// Shortest acceptable values of the secrets a person chooses. A surface whose secret is shorter refuses to
// start (the management API answers 503, the admin login is disabled) rather than run on a guessable one.
// MANAGEMENT_TOKEN and SESSION_SECRET are machine-made (`npm run dev`, `openssl rand`): 32 characters are
// ≥ 190 bits of base64. ADMIN_PASSWORD is typed by a person and only slowed down by the login guard:
// 16 characters (NIST SP 800-63B asks 15 for a password that is the only factor).
export const MIN_SECRET_LENGTH = {
  MANAGEMENT_TOKEN: 32,
  ADMIN_PASSWORD: 16,
  SESSION_SECRET: 32,
  TOKEN_SIGNING_KEY: 32,
} as const;

export type ChosenSecret = keyof typeof MIN_SECRET_LENGTH;

/** What is wrong with a secret (for operators: it names the secret), or null when it may be used. */
export function secretProblem(name: ChosenSecret, value: string | undefined): string | null {
  if (!value) return `the ${name} secret is not configured`;
  const min = MIN_SECRET_LENGTH[name];
  if (value.length < min) return `the ${name} secret is shorter than ${min} characters`;
  return null;
}
