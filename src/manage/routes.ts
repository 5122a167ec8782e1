import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { auditRoutes } from "../audit/routes";
import { identityRoutes, userRoutes } from "../issuing/identity/routes";
import { issuingKeyRoutes } from "../issuing/keys/routes";
import { issuingKeyScope } from "../issuing/keys/scope";
import type { AppEnv } from "../lib/context";
import { ApiError } from "../lib/errors";
import { metricsRoutes } from "../metrics/routes";
import { projectRoutes } from "../projects/routes";
import { tokenRoutes } from "../tokens/routes";
import { eventRoutes, usageRoutes } from "../usage/routes";
import { requireManagementAuth } from "./auth";
import { openApiDocument } from "./openapi";

const tooLarge = () => {
  throw new ApiError(413, "request_too_large", "Management request bodies are limited to 1 MiB.");
};

export const manageRoutes = new Hono<AppEnv>()
  .get("/openapi.json", (c) => c.json(openApiDocument()))
  .use(requireManagementAuth)
  .use(issuingKeyScope)
  .use(bodyLimit({ maxSize: 1024 * 1024, onError: tooLarge }))
  .route("/projects", projectRoutes)
  .route("/tokens", tokenRoutes)
  .route("/issuing-keys", issuingKeyRoutes)
  .route("/identity-providers", identityRoutes)
  .route("/users", userRoutes)
  .route("/audit", auditRoutes)
  .route("/metrics", metricsRoutes)
  .route("/usage", usageRoutes)
  .route("/events", eventRoutes);
