// The D1 schema, one file per table group under tables/. This barrel is what drizzle.config.ts reads (every
// table must be exported from here, or drizzle-kit would drop it from the next migration) and what the rest
// of the code imports.

export * from "./tables/audit";
export type { JsonObject, Period, PeriodBudget, RateWindow, TokenWindow } from "./tables/common";
export * from "./tables/issuing";
export * from "./tables/projects";
export * from "./tables/tokens";
export * from "./tables/upstreams";
export * from "./tables/usage";
