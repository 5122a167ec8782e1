import { describe, expect, it } from "vitest";
import { z } from "zod";
import { DocumentedRoutes } from "../src/lib/documented-routes";
import { handleError } from "../src/lib/errors";
import { manageRoutes } from "../src/manage/routes";
import { call, json } from "./helpers";

type Operation = {
  summary?: string;
  parameters?: { name: string; in: string }[];
  requestBody?: { content: { "application/json": { schema: { properties?: object } } } };
  responses: Record<string, unknown>;
};
type Document = { paths: Record<string, Record<string, Operation>> };

const served = async () => json<Document>(await call("/manage/openapi.json"));

/** `METHOD /manage/path/{id}` for every handler Hono will route under /manage (middleware excluded). */
function routed(): string[] {
  const seen = new Set<string>();
  for (const r of manageRoutes.routes) {
    if (r.method === "ALL") continue; // use(): auth, body limit
    seen.add(`${r.method} /manage${r.path.replace(/:(\w+)/g, "{$1}")}`);
  }
  return [...seen].sort();
}

describe("the management API documents itself", () => {
  it("lists exactly the routes manageRoutes serves, no more and no fewer", async () => {
    const doc = await served();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(routed().length).toBeGreaterThan(10);
    expect(documented).toEqual(routed());
  });

  it("shows every route's path parameters, query fields and body with their schemas", async () => {
    const doc = await served();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method} ${path}`;
        expect(op.summary, where).toBeTruthy();
        const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        expect(op.parameters?.filter((p) => p.in === "path").map((p) => p.name) ?? [], where).toEqual(inPath);
        if (method === "post" || method === "patch") {
          const body = op.requestBody?.content["application/json"].schema;
          // A POST without a body names no fields; every other one documents its body.
          if (!path.endsWith("/revoke")) expect(body?.properties, where).toBeDefined();
        }
      }
    }
    const list = doc.paths["/manage/tokens"]?.get;
    expect(list?.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(["project_id", "limit", "cursor"]),
    );
  });

  it("validates with the schemas it documents, before the handler runs", async () => {
    const routes = new DocumentedRoutes("test").post(
      "/:id",
      {
        summary: "test",
        params: { id: z.uuid() },
        query: z.object({ n: z.coerce.number().int() }),
        body: z.strictObject({ name: z.string() }),
        response: { status: 200 },
      },
      (c, { params, query, body }) => c.json({ id: params.id, n: query.n + 1, name: body.name }),
    );
    const id = crypto.randomUUID();
    const post = (path: string, body: unknown) =>
      routes.app.request(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect(await (await post(`/${id}?n=1`, { name: "a" })).json()).toEqual({ id, n: 2, name: "a" });
    routes.app.onError(handleError);
    for (const [path, body, field] of [
      ["/nope?n=1", { name: "a" }, "id"],
      [`/${id}?n=x`, { name: "a" }, "query.n"],
      [`/${id}?n=1`, { name: "a", extra: 1 }, "(body)"],
    ] as const) {
      const res = await post(path, body);
      expect(res.status, path).toBe(400);
      const { error } = await json<{ error: { code: string; param: string } }>(res);
      expect(error).toMatchObject({ code: "validation_error", param: field });
    }
    expect(routes.operations).toMatchObject([{ method: "post", path: "/{id}", tag: "test" }]);
  });

  it("refuses, at compile time, a path parameter without a schema", () => {
    const routes = new DocumentedRoutes("test");
    // @ts-expect-error: "/:id" needs params: { id: schema }
    routes.get("/:id", { summary: "x", response: { status: 204 } }, (c) => c.body(null, 204));
    expect(routes.operations).toHaveLength(1);
  });
});
