/**
 * Budget math, shared by the token's and the project's Durable Objects. A budget holds when
 * used + outstanding reservations + this request's reservation ≤ the limit; `used` only grows when a
 * reservation is settled with the request's real usage.
 */

export type Limits = {
  maxRequests: number | null;
  maxTotalTokens: number | null;
  maxCostUsd: number | null;
};

/**
 * Costs are kept in whole nano-dollars (1e-9 USD): sums of integers are exact, so "spent ≤ budget" never
 * fails on a float rounding (0.006 + 0.003 + 0.001 > 0.01 in binary floating point). Up to 2^53 nanos
 * ($9 million) stay exact, above the largest budget accepted.
 */
export const NANOS_PER_USD = 1_000_000_000;
/** USD to nano-dollars, rounded up (reservations and charges never round down). */
export const toNanos = (usd: number): number => Math.ceil(Math.round(usd * 1e12) / 1000);
export const toUsd = (nanos: number): number => nanos / NANOS_PER_USD;

export type Amount = { tokens: number; costNanos: number };

/** Totals kept in a Durable Object: requests counted, real usage settled, reservations still open. */
export type Ledger = {
  requests: number;
  tokensUsed: number;
  costUsedNanos: number;
  tokensReserved: number;
  costReservedNanos: number;
};

export const EMPTY_LEDGER: Ledger = {
  requests: 0,
  tokensUsed: 0,
  costUsedNanos: 0,
  tokensReserved: 0,
  costReservedNanos: 0,
};

export type LimitRefusal = { code: "quota_exceeded"; message: string };

/**
 * Whether one more request reserving `reserve` fits the limits. `who` names the holder in messages
 * ("token", "project"). A request with nothing to reserve still needs room left (used + reserved < max).
 */
export function limitRefusal(
  limits: Limits,
  ledger: Ledger,
  reserve: Amount | null,
  who: string,
): LimitRefusal | null {
  if (limits.maxRequests !== null && ledger.requests >= limits.maxRequests) {
    return {
      code: "quota_exceeded",
      message: `The ${who} has used all ${limits.maxRequests} of its requests.`,
    };
  }
  if (limits.maxTotalTokens !== null) {
    const committed = ledger.tokensUsed + ledger.tokensReserved;
    const need = reserve?.tokens ?? 0;
    if (committed + need > limits.maxTotalTokens || committed >= limits.maxTotalTokens) {
      const left = Math.max(0, limits.maxTotalTokens - committed);
      return {
        code: "quota_exceeded",
        message:
          `The ${who}'s token budget does not cover this request: it may use up to ${need} tokens, ` +
          `${left} of ${limits.maxTotalTokens} are left (lower max_tokens to fit).`,
      };
    }
  }
  if (limits.maxCostUsd !== null) {
    const max = toNanos(limits.maxCostUsd);
    const committed = ledger.costUsedNanos + ledger.costReservedNanos;
    const need = reserve?.costNanos ?? 0;
    if (committed + need > max || committed >= max) {
      const left = toUsd(Math.max(0, max - committed));
      return {
        code: "quota_exceeded",
        message:
          `The ${who}'s cost budget does not cover this request: it may cost up to $${usd(toUsd(need))}, ` +
          `$${usd(left)} of $${usd(limits.maxCostUsd)} are left (lower max_tokens to fit).`,
      };
    }
  }
  return null;
}

const usd = (n: number) => Number(n.toPrecision(6)).toString();

export const hasLimits = (l: Limits): boolean =>
  l.maxRequests !== null || l.maxTotalTokens !== null || l.maxCostUsd !== null;

/** A token or cost budget, the limits that need a reservation settled with the real usage. */
export const hasBudget = (l: Limits): boolean => l.maxTotalTokens !== null || l.maxCostUsd !== null;

export type Remaining = {
  requests: number | null;
  tokens: number | null;
  costUsd: number | null;
};

/** What is left under each limit (null = unlimited), counting open reservations as spent. */
export function remaining(limits: Limits, ledger: Ledger): Remaining {
  return {
    requests: limits.maxRequests === null ? null : Math.max(0, limits.maxRequests - ledger.requests),
    tokens:
      limits.maxTotalTokens === null
        ? null
        : Math.max(0, limits.maxTotalTokens - ledger.tokensUsed - ledger.tokensReserved),
    costUsd:
      limits.maxCostUsd === null
        ? null
        : toUsd(Math.max(0, toNanos(limits.maxCostUsd) - ledger.costUsedNanos - ledger.costReservedNanos)),
  };
}

/** The smaller of two remaining allowances, null meaning unlimited. */
export function tighter(a: Remaining, b: Remaining | null): Remaining {
  if (!b) return a;
  const min = (x: number | null, y: number | null) => (x === null ? y : y === null ? x : Math.min(x, y));
  return {
    requests: min(a.requests, b.requests),
    tokens: min(a.tokens, b.tokens),
    costUsd: min(a.costUsd, b.costUsd),
  };
}
