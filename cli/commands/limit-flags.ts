import { type Command, Option } from "commander";
import {
  isoTime,
  jsonObject,
  list,
  type PeriodBudgetArg,
  periodBudget,
  positiveInt,
  positiveNumber,
  rateWindow,
  tokenWindow,
} from "../parse";

/** The limit flags of `token create`, `token update` and `token batch`, and the API body they make. */

export type LimitFlags = {
  duration?: number;
  expiresAt?: string;
  maxRequests?: number;
  rateLimit?: { requests: number; window_seconds: number }[];
  maxTokens?: number;
  maxCost?: number;
  models?: string[];
  name?: string;
  metadata?: Record<string, unknown>;
  periodBudget?: PeriodBudgetArg[];
  timeZone?: string;
  tpm?: { tokens: number; window_seconds: number }[];
  canMint?: boolean;
  /** Both `--cache` and `--no-cache` are defined, so this stays undefined unless one is given. */
  cache?: boolean;
};

export function limits(o: LimitFlags): Record<string, unknown> {
  const b: Record<string, unknown> = {};
  if (o.duration !== undefined) b.duration_minutes = o.duration;
  if (o.expiresAt !== undefined) b.expires_at = o.expiresAt;
  if (o.maxRequests !== undefined) b.max_requests = o.maxRequests;
  if (o.rateLimit !== undefined) b.rate_limit = o.rateLimit;
  if (o.maxTokens !== undefined) b.max_tokens = o.maxTokens;
  if (o.maxCost !== undefined) b.max_cost_usd = o.maxCost;
  if (o.models !== undefined) b.allowed_models = o.models.length ? o.models : null;
  if (o.name !== undefined) b.name = o.name;
  if (o.metadata !== undefined) b.metadata = o.metadata;
  if (o.periodBudget !== undefined) b.period_budgets = o.periodBudget;
  if (o.timeZone !== undefined) b.budget_time_zone = o.timeZone;
  if (o.tpm !== undefined) b.token_rate_limit = o.tpm;
  if (o.canMint !== undefined) b.can_mint = o.canMint;
  if (o.cache !== undefined) b.cache = o.cache;
  return b;
}

export function addLimitFlags(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--duration <minutes>", "lifetime in minutes (1 … 525600)")
        .argParser(positiveInt)
        .conflicts("expiresAt"),
    )
    .option("--expires-at <time>", "expiry as an ISO date-time", isoTime)
    .option("--max-requests <n>", "at most this many requests in total", positiveInt)
    .option("--rate-limit <n/window>", "rate window, e.g. 60/1m or 1000/1h (repeatable)", rateWindow)
    .option("--max-tokens <n>", "budget of total tokens", positiveInt)
    .option("--max-cost <usd>", "budget in US dollars", positiveNumber)
    .option("--models <list>", "allowed models, comma-separated ('' = all)", list)
    .option("--name <name>", "a name to recognise it by")
    .option("--metadata <json>", "a JSON object", jsonObject)
    .option(
      "--period-budget <period:limits>",
      "a budget that renews every hour/day/week/month, e.g. day:cost=5 or month:requests=1000 (repeatable)",
      periodBudget,
    )
    .option("--time-zone <zone>", "IANA time zone of the periods' calendar (default UTC), e.g. Europe/Berlin")
    .option("--tpm <tokens/window>", "tokens per window, e.g. 40000/1m (repeatable)", tokenWindow)
    .option("--can-mint", "the token may mint child tokens out of its own budgets")
    .option("--cache", "may use the project's response cache (the default)")
    .option("--no-cache", "never use the project's response cache");
}
