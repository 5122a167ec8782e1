// A mock of Azure OpenAI's URL and auth shape: `/openai/deployments/{deployment}/{endpoint}?api-version=…`
// and the `/openai/v1/{endpoint}` API, both with the `api-key` header. Answers like the OpenAI mock; a
// deployments-API answer names the deployment in `x-mock-deployment` so tests can see the mapping.

import { type Ctx, chatOrCompletion, sendJson } from "./mock-upstream.ts";

function azureError(ctx: Ctx, status: number, code: string, message: string): void {
  sendJson(ctx, status, { error: { code, message } });
}

export async function azureRoute(ctx: Ctx, path: string): Promise<void> {
  if (!ctx.header("api-key"))
    return azureError(
      ctx,
      401,
      "401",
      "Access denied due to invalid subscription key or wrong API endpoint.",
    );
  const status = ctx.num("x-mock-status", 0);
  if (status >= 400) return azureError(ctx, status, String(status), `mock upstream error ${status}`);
  const url = new URL(ctx.req.url ?? "/", "http://mock");
  const deployment = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(path);
  if (deployment) {
    if (!url.searchParams.get("api-version"))
      return azureError(ctx, 404, "404", "Resource not found (api-version is required)");
    ctx.res.setHeader("x-mock-deployment", decodeURIComponent(deployment[1]!));
    if (deployment[2] === "chat/completions") return chatOrCompletion(ctx, "chat");
    return sendJson(ctx, 200, {
      object: "list",
      data: [],
      model: deployment[1],
      usage: { prompt_tokens: 1, total_tokens: 1 },
    });
  }
  if (path === "/openai/v1/chat/completions") return chatOrCompletion(ctx, "chat");
  return azureError(ctx, 404, "404", `mock has no ${ctx.req.method} ${path}`);
}
