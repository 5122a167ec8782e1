import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { auditRoutes } from "../audit/routes";
import type { AppEnv } from "../lib/context";
import { ApiError } from "../lib/errors";
import { metricsRoutes } from "../metrics/routes";
import { projectRoutes } from "../projects/routes";
import { tokenRoutes } from "../tokens/routes";
import { aliasRoutes, projectRoutingRoutes, upstreamRoutes } from "../upstreams/routes";
import { eventRoutes, usageRoutes } from "../usage/routes";
import { requireManagementAuth } from "./auth";
import { openApiDocument } from "./openapi";

const tooLarge = () => {
  throw new ApiError(413, "request_too_large", "Management request bodies are limited to 1 MiB.");
};

export const manageRoutes = new Hono<AppEnv>()
  .get("/openapi.json", (c) => c.json(openApiDocument()))
  .use(requireManagementAuth)
  .use(bodyLimit({ maxSize: 1024 * 1024, onError: tooLarge }))
  .route("/projects", projectRoutes)
  .route("/projects", projectRoutingRoutes)
  .route("/upstreams", upstreamRoutes)
  .route("/aliases", aliasRoutes)
  .route("/tokens", tokenRoutes)
  .route("/audit", auditRoutes)
  .route("/metrics", metricsRoutes)
  .route("/usage", usageRoutes)
  .route("/events", eventRoutes);
