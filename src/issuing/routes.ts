import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { audited } from "../audit/middleware";
import type { AppEnv } from "../lib/context";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../lib/cursor";
import { DocumentedRoutes } from "../lib/documented-routes";
import { ApiError } from "../lib/errors";
import { listOf, Uuid } from "../lib/schemas";
import { openApiDocument } from "../manage/openapi";
import { presentedCredential } from "../proxy/auth";
import { getDb } from "../storage/db";
import { listTokens } from "../tokens/repo";
import { CreatedToken, CreatedTokens, Token, toToken } from "../tokens/response";
import { TokenListQuery } from "../tokens/schema";
import { liveState, requireToken, revokeToken } from "../tokens/service";
import { ChildrenCreate, mintChildren, tokenOfSecret } from "./children";
import { exchangeJwt } from "./identity/exchange";
import { looksLikeJwt } from "./identity/jwt-cache";
import { ExchangeRequest } from "./identity/schema";

/**
 * The API of token holders and end users, authenticated by their own credential (never the management
 * token): exchange an identity provider's JWT for a token, read one's own token, mint and manage child
 * tokens. Browser apps call it directly, so it answers CORS (bearer credentials only, no cookies); the
 * project's allowed origins are enforced where a project is known.
 */

const tooLarge = () => {
  throw new ApiError(413, "request_too_large", "Request bodies are limited to 1 MiB.");
};

const bearer = (c: Context<AppEnv>): string => presentedCredential(c.req.raw.headers);

const byId = { id: Uuid };

export const issueRoutes = new DocumentedRoutes("issuing (token holders)");
issueRoutes.app
  .use(
    cors({
      origin: (origin) => origin,
      allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
      allowHeaders: ["authorization", "content-type"],
      exposeHeaders: ["x-request-id"],
      maxAge: 600,
    }),
  )
  .use(bodyLimit({ maxSize: 1024 * 1024, onError: tooLarge }));

issueRoutes
  .get(
    "/openapi.json",
    {
      summary: "The OpenAPI 3.1 document of this API (no credential)",
      public: true,
      response: { status: 200, description: "application/json — the OpenAPI document" },
    },
    (c) => c.json(openApiDocument("/issue", [["", issueRoutes]], "llm-proxy token holders' API")),
  )
  .post(
    "/exchange",
    {
      summary:
        "Exchange an end user's JWT (Authorization: Bearer <jwt>) for a withering token counted against the user's limits",
      body: ExchangeRequest,
      response: { status: 201, schema: CreatedToken },
      public: true,
    },
    async (c, { body }) => {
      const jwt = bearer(c);
      if (!looksLikeJwt(jwt)) {
        throw new ApiError(
          401,
          "invalid_token",
          "Send the identity provider's JWT as 'Authorization: Bearer <jwt>'.",
          {
            retryable: false,
          },
        );
      }
      const { token, secret, userId } = await exchangeJwt(c.env, jwt, body, c.req.header("origin") ?? null);
      return c.json({ ...toToken(token), token: secret, user_id: userId }, 201);
    },
  )
  .get(
    "/token",
    {
      summary: "The bearer token itself, with what it has left (Authorization: Bearer <token>)",
      response: { status: 200, schema: Token },
      public: true,
    },
    async (c) => {
      const { token } = await tokenOfSecret(c.env, bearer(c));
      return c.json(toToken(token, await liveState(c.env, token)));
    },
  )
  .post(
    "/children",
    {
      summary: "Mint child tokens out of the bearer token's own budgets (it needs can_mint)",
      body: ChildrenCreate,
      response: { status: 201, schema: CreatedTokens },
      audit: audited("token.mint_children", "token"),
      public: true,
    },
    async (c, { body }) => {
      const secret = bearer(c);
      c.set("actor", "token");
      const { parent, children } = await mintChildren(c.env, secret, body);
      c.set("actor", `token:${parent.id}`);
      c.set("audit", {
        targetId: parent.id,
        details: {
          project_id: parent.projectId,
          count: children.length,
          ids: children.map((x) => x.token.id),
        },
      });
      return c.json({ data: children.map(({ token, secret: s }) => ({ ...toToken(token), token: s })) }, 201);
    },
  )
  .get(
    "/children",
    {
      summary: "The bearer token's children",
      query: TokenListQuery.pick({ status: true, limit: true, cursor: true }),
      response: { status: 200, schema: listOf(Token) },
      public: true,
    },
    async (c, { query: q }) => {
      const { token: parent } = await tokenOfSecret(c.env, bearer(c));
      const cursor = decodeCursor(q.cursor, TimeIdCursor);
      const rows = await listTokens(getDb(c.env), {
        parentId: parent.id,
        status: q.status,
        limit: q.limit,
        cursor: cursor && { createdAt: cursor.t, id: cursor.id },
      });
      const last = rows.length === q.limit ? rows.at(-1) : undefined;
      return c.json({
        data: rows.map((t) => toToken(t)),
        next_cursor: last ? encodeCursor({ t: last.createdAt, id: last.id }) : null,
      });
    },
  )
  .delete(
    "/children/:id",
    {
      summary: "Revoke one of the bearer token's children (its unused allowance returns to the parent)",
      params: byId,
      response: { status: 204, description: "Revoked" },
      audit: audited("token.revoke_child", "token"),
      public: true,
    },
    async (c, { params }) => {
      c.set("actor", "token");
      const { token: parent } = await tokenOfSecret(c.env, bearer(c));
      c.set("actor", `token:${parent.id}`);
      const child = await requireToken(c.env, params.id);
      if (child.parentId !== parent.id)
        throw new ApiError(404, "not_found", `No child token with id '${child.id}'.`);
      await revokeToken(c.env, child.id);
      return c.body(null, 204);
    },
  );
