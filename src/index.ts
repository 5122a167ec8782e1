import { type Context, Hono } from "hono";
import { adminSessionForManage } from "./admin/manage-session";
import { healthRoutes } from "./health/routes";
import { issueRoutes } from "./issuing/routes";
import type { AppEnv } from "./lib/context";
import { ApiError, handleError } from "./lib/errors";
import { requestId } from "./lib/request-id";
import { cleanup } from "./maintenance/cleanup";
import { reencryptStored } from "./maintenance/reencrypt";
import { manageRoutes } from "./manage/routes";
import { handleProxy, isProxyPath } from "./proxy";
import { consumeUsageBatch } from "./usage/consumer";

const app = new Hono<AppEnv>();
app.use(requestId);
app.route("/", healthRoutes);
app.use("/manage/*", adminSessionForManage);
app.route("/manage", manageRoutes);
app.route("/issue", issueRoutes.app);
// The admin pages are loaded on first use, so /v1 requests never evaluate their code.
const admin = async (c: Context<AppEnv>) =>
  (await import("./admin/app")).adminApp.fetch(c.req.raw, c.env, c.executionCtx);
app.all("/admin", admin);
app.all("/admin/*", admin);
app.notFound((c) => {
  throw new ApiError(404, "not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`);
});
app.onError(handleError);

export default {
  // The proxy is dispatched before Hono: its hot path needs no router, middleware or context.
  fetch: (request: Request, env: Env, ctx: ExecutionContext) =>
    isProxyPath(request.url) ? handleProxy(request, env, ctx) : app.fetch(request, env, ctx),
  queue: consumeUsageBatch,
  scheduled: async (_controller, env, ctx) => {
    ctx.waitUntil(cleanup(env));
    // Independent of the clean-up: a failure of one never holds up the other.
    ctx.waitUntil(reencryptStored(env));
  },
} satisfies ExportedHandler<Env>;

export { AdminLoginGuard } from "./admin/guard";
export { ObjectRegistry } from "./ownership/durable";
export { ProjectState } from "./projects/durable";
export { TokenState } from "./tokens/durable";
export { TokenFanout } from "./tokens/notify";
