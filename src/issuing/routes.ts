import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { audited } from "../audit/middleware";
import type { AppEnv } from "../lib/context";
import { decodeCursor, encodeCursor, TimeIdCursor } from "../lib/cursor";
import { ApiError } from "../lib/errors";
import { Uuid } from "../lib/schemas";
import { readJson, readParam, readQuery } from "../lib/validate";
import { presentedCredential } from "../proxy/auth";
import { getDb } from "../storage/db";
import { listTokens } from "../tokens/repo";
import { TokenListQuery, toToken } from "../tokens/schema";
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

/** An optional JSON body: absent means `{}`. */
async function optionalJson<T extends Parameters<typeof readJson>[1]>(
  c: Parameters<typeof readJson>[0],
  schema: T,
) {
  const empty = (c.req.header("content-length") ?? "0") === "0" && !c.req.header("transfer-encoding");
  return empty ? schema.parse({}) : readJson(c, schema);
}

function bearer(c: { req: { raw: Request } }): string {
  return presentedCredential(c.req.raw.headers);
}

export const issueRoutes = new Hono<AppEnv>()
  .use(
    cors({
      origin: (origin) => origin,
      allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
      allowHeaders: ["authorization", "content-type"],
      exposeHeaders: ["x-request-id"],
      maxAge: 600,
    }),
  )
  .use(bodyLimit({ maxSize: 1024 * 1024, onError: tooLarge }))
  .post("/exchange", async (c) => {
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
    const input = await optionalJson(c, ExchangeRequest);
    const { token, secret, userId } = await exchangeJwt(c.env, jwt, input, c.req.header("origin") ?? null);
    return c.json({ ...toToken(token), token: secret, user_id: userId }, 201);
  })
  .get("/token", async (c) => {
    const { token } = await tokenOfSecret(c.env, bearer(c));
    return c.json(toToken(token, await liveState(c.env, token)));
  })
  .post("/children", audited("token.mint_children", "token"), async (c) => {
    const secret = bearer(c);
    const input = await readJson(c, ChildrenCreate);
    const { parent, children } = await mintChildren(c.env, secret, input);
    c.set("actor", `token:${parent.id}`);
    c.set("audit", {
      targetId: parent.id,
      details: { project_id: parent.projectId, count: children.length, ids: children.map((x) => x.token.id) },
    });
    return c.json({ data: children.map(({ token, secret: s }) => ({ ...toToken(token), token: s })) }, 201);
  })
  .get("/children", async (c) => {
    const { token: parent } = await tokenOfSecret(c.env, bearer(c));
    const q = readQuery(c, TokenListQuery.pick({ status: true, limit: true, cursor: true }));
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
  })
  .delete("/children/:id", audited("token.revoke_child", "token"), async (c) => {
    const { token: parent } = await tokenOfSecret(c.env, bearer(c));
    c.set("actor", `token:${parent.id}`);
    const child = await requireToken(c.env, readParam(c, "id", Uuid));
    if (child.parentId !== parent.id)
      throw new ApiError(404, "not_found", `No child token with id '${child.id}'.`);
    await revokeToken(c.env, child.id);
    return c.body(null, 204);
  });
