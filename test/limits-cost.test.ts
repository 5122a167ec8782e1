import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashToken } from "../src/tokens/secret";
import { createProject, createToken } from "./helpers";

/**
 * What limits cost per admission. Local workerd runs every object in one process, so the figures are
 * in-process call costs, not network round trips; they show the relative cost of each mode. The
 * structural claim is exact: an unlimited project's tokens never reach a project object.
 */
async function timeAdmits(secret: string, n: number): Promise<number> {
  const stub = env.TOKEN_DO.get(env.TOKEN_DO.idFromName(await hashToken(secret)));
  await stub.admit({});
  // Timers in workerd advance only across I/O: time the whole sequence, report the mean.
  const start = Date.now();
  for (let i = 0; i < n; i++) await stub.admit({ model: "m", reserve: { tokens: 10, costUsd: 0.000001 } });
  return Math.round(((Date.now() - start) / n) * 100) / 100;
}

describe("cost of limits per admission", () => {
  it("adds one project-object call only for projects with caps", async () => {
    const open = await createProject();
    const capped = await createProject({ max_requests: 1_000_000 });
    const unlimited = await createToken(open.id);
    const limited = await createToken(open.id, {
      max_requests: 1_000_000,
      rate_limit: [
        { requests: 100_000, window_seconds: 60 },
        { requests: 100_000, window_seconds: 86_400 },
      ],
      max_tokens: 1_000_000_000,
      max_cost_usd: 1_000,
    });
    const projectLimited = await createToken(capped.id, { max_tokens: 1_000_000_000 });
    // Interleaved rounds, best of three: the test machine is shared and noisy.
    const n = 150;
    const figures = { unlimited: Infinity, token_limited: Infinity, project_limited: Infinity };
    for (let round = 0; round < 3; round++) {
      figures.unlimited = Math.min(figures.unlimited, await timeAdmits(unlimited.token, n));
      figures.token_limited = Math.min(figures.token_limited, await timeAdmits(limited.token, n));
      figures.project_limited = Math.min(figures.project_limited, await timeAdmits(projectLimited.token, n));
    }
    console.log("mean admit() ms (local workerd, in-process):", figures);
    const projectIds = (await listDurableObjectIds(env.PROJECT_DO)).map((id) => id.toString());
    expect(projectIds).toContain(env.PROJECT_DO.idFromName(capped.id).toString());
    expect(projectIds).not.toContain(env.PROJECT_DO.idFromName(open.id).toString());
  }, 60_000);
});
