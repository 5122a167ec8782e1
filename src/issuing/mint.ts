import { type Ledger, toNanos, toUsd } from "../limits/budget";
import { hasRenewing } from "../limits/renewing";
import { type Credential, type Refused, TOKEN_NOT_FOUND } from "../tokens/admission";
import { standingRefusal } from "../tokens/standing";
import type { TokenConfig } from "../tokens/token-config";

/** One child's carved allowance, as the parent's object holds it in escrow. */
export type ChildGrant = {
  childId: string;
  requests: number;
  tokens: number;
  costNanos: number;
  expiresAt: number;
};

export type MintRequest = { credential: Credential; children: ChildGrant[] };

export type MintResult = { ok: true; tokenId: string; projectId: string } | Refused;

const usd = (n: number) => Number(n.toPrecision(6)).toString();

/**
 * Whether a parent token may carve these children out of what it has left now (its `ledger` counts what
 * it used, holds for running requests, and earlier children's escrow). Pure: the parent's object calls it
 * and holds the escrow in the same synchronous step, so concurrent mints never promise more than there is.
 */
export function mintRefusal(
  config: TokenConfig | null,
  ledger: Ledger,
  request: MintRequest,
  now: number,
): Refused | null {
  if (!config) return TOKEN_NOT_FOUND;
  const standing = standingRefusal(config, request.credential, now);
  if (standing) return standing;
  const ids = { tokenId: config.tokenId, projectId: config.projectId };
  const forbidden = (message: string): Refused => ({
    ok: false,
    status: 403,
    code: "forbidden",
    message,
    ...ids,
  });
  if (!config.canMint) return forbidden("This token is not allowed to mint child tokens.");
  if (hasRenewing(config.renewing)) {
    // Escrow is carved from lifetime budgets; a budget per period or a token window of the parent would
    // not bound what its children spend (theirs are counted in their own objects), so it cannot mint.
    return forbidden(
      "A token with budgets per period or token windows cannot mint child tokens: a child's allowance is carved from lifetime budgets only.",
    );
  }
  const { maxRequests, maxTotalTokens, maxCostUsd } = config;
  if (maxRequests === null && maxTotalTokens === null && maxCostUsd === null) {
    return forbidden(
      "A token mints children out of a budget (max_requests, max_tokens or max_cost_usd); it has none.",
    );
  }
  const sum = { requests: 0, tokens: 0, costNanos: 0 };
  for (const c of request.children) {
    if (c.expiresAt > config.expiresAt) {
      return forbidden(`A child cannot outlive its parent (${new Date(config.expiresAt).toISOString()}).`);
    }
    sum.requests += c.requests;
    sum.tokens += c.tokens;
    sum.costNanos += c.costNanos;
  }
  const n = request.children.length;
  const short = (what: string, left: string, need: string): Refused => ({
    ok: false,
    status: 429,
    code: "quota_exceeded",
    message: `Not enough ${what} left for ${n} ${n === 1 ? "child" : "children"}: they need ${need}, the token has ${left}.`,
    ...ids,
  });
  if (maxRequests !== null && ledger.requests + sum.requests > maxRequests) {
    return short("requests", String(Math.max(0, maxRequests - ledger.requests)), String(sum.requests));
  }
  if (maxTotalTokens !== null) {
    const left = maxTotalTokens - ledger.tokensUsed - ledger.tokensReserved;
    if (sum.tokens > left) return short("tokens", String(Math.max(0, left)), String(sum.tokens));
  }
  if (maxCostUsd !== null) {
    const left = toNanos(maxCostUsd) - ledger.costUsedNanos - ledger.costReservedNanos;
    if (sum.costNanos > left)
      return short("budget", `$${usd(toUsd(Math.max(0, left)))}`, `$${usd(toUsd(sum.costNanos))}`);
  }
  return null;
}
