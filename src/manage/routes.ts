import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { auditRoutes } from "../audit/routes";
import { identityRoutes, userRoutes } from "../issuing/identity/routes";
import { issuingKeyRoutes } from "../issuing/keys/routes";
import type { AppEnv } from "../lib/context";
import { DocumentedRoutes } from "../lib/documented-routes";
import { ApiError } from "../lib/errors";
import { metricsRoutes } from "../metrics/routes";
import { projectRoutes } from "../projects/routes";
import { tokenRoutes } from "../tokens/routes";
import { aliasRoutes, projectAliasRoutes, projectUpstreamRoutes, upstreamRoutes } from "../upstreams/routes";
import { eventRoutes, usageRoutes } from "../usage/routes";
import { requireManagementAuth } from "./auth";
import { openApiDocument } from "./openapi";

const tooLarge = () => {
  throw new ApiError(413, "request_too_large", "Management request bodies are limited to 1 MiB.");
};

/** Every management area and where it is mounted under /manage: the router and its documentation. */
const AREAS = [
  ["/projects", projectRoutes],
  ["/projects", projectUpstreamRoutes],
  ["/upstreams", upstreamRoutes],
  ["/projects", projectAliasRoutes],
  ["/aliases", aliasRoutes],
  ["/tokens", tokenRoutes],
  ["/issuing-keys", issuingKeyRoutes],
  ["/identity-providers", identityRoutes],
  ["/users", userRoutes],
  ["/audit", auditRoutes],
  ["/metrics", metricsRoutes],
  ["/usage", usageRoutes],
  ["/events", eventRoutes],
] as const satisfies ReadonlyArray<readonly [string, DocumentedRoutes]>;

/** Served without auth: the document of every route below, this one included. */
const openApiRoute: DocumentedRoutes = new DocumentedRoutes("meta").get(
  "/",
  {
    summary: "The OpenAPI 3.1 document of this API, built from the routes' own declarations (no credential)",
    public: true,
    response: { status: 200, description: "application/json — the OpenAPI document" },
  },
  (c) => c.json(openApiDocument("/manage", [...AREAS, ["/openapi.json", openApiRoute]])),
);

const authorised = new Hono<AppEnv>()
  .use(requireManagementAuth)
  .use(bodyLimit({ maxSize: 1024 * 1024, onError: tooLarge }));
for (const [prefix, routes] of AREAS) authorised.route(prefix, routes.app);

export const manageRoutes = new Hono<AppEnv>()
  .route("/openapi.json", openApiRoute.app)
  .route("/", authorised);
