import { z } from "zod";
import { AuditEntry, AuditQuery } from "../audit/schema";
import { listOf } from "../lib/schemas";
import { Project, ProjectCreate, ProjectListQuery, ProjectPatch } from "../projects/schema";
import {
  CreatedToken,
  RevokeByValue,
  Token,
  TokenCreate,
  TokenListQuery,
  TokenPatch,
} from "../tokens/schema";
import {
  Alias,
  AliasCreate,
  AliasPatch,
  HealthQuery,
  KeyCreate,
  KeyPatch,
  KeyRotate,
  Upstream,
  UpstreamCreate,
  UpstreamHealth,
  UpstreamKey,
  UpstreamPatch,
} from "../upstreams/schema";
import { VERSION } from "../version";

/** One documented operation of the management API; the zod schemas are the ones the handlers validate with. */
export type Operation = {
  method: "get" | "post" | "patch" | "delete";
  path: string;
  summary: string;
  tag: string;
  body?: z.ZodType;
  query?: z.ZodObject;
  response?: { status: number; schema?: z.ZodType; description?: string };
};

const ErrorEnvelope = z.object({
  error: z.object({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable(),
    code: z.string(),
    fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});

const RevokedCount = z.object({ revoked_count: z.number().int() });

export const operations: Operation[] = [
  {
    method: "post",
    path: "/manage/projects",
    tag: "projects",
    summary: "Create a project",
    body: ProjectCreate,
    response: { status: 201, schema: Project },
  },
  {
    method: "get",
    path: "/manage/projects",
    tag: "projects",
    summary: "List projects",
    query: ProjectListQuery,
    response: { status: 200, schema: listOf(Project) },
  },
  {
    method: "get",
    path: "/manage/projects/{id}",
    tag: "projects",
    summary: "Get a project",
    response: { status: 200, schema: Project },
  },
  {
    method: "patch",
    path: "/manage/projects/{id}",
    tag: "projects",
    summary: "Update a project (rotate its key, deactivate…)",
    body: ProjectPatch,
    response: { status: 200, schema: Project },
  },
  {
    method: "delete",
    path: "/manage/projects/{id}",
    tag: "projects",
    summary: "Delete a project and stop all its tokens",
    response: { status: 204, description: "Deleted" },
  },
  {
    method: "post",
    path: "/manage/projects/{id}/tokens/revoke",
    tag: "projects",
    summary: "Revoke every token of a project",
    response: { status: 200, schema: RevokedCount },
  },
  {
    method: "get",
    path: "/manage/projects/{id}/upstreams",
    tag: "upstreams",
    summary: "List a project's upstreams (keys as hints)",
    response: { status: 200, schema: listOf(Upstream) },
  },
  {
    method: "post",
    path: "/manage/projects/{id}/upstreams",
    tag: "upstreams",
    summary: "Add an upstream to a project",
    body: UpstreamCreate,
    response: { status: 201, schema: Upstream },
  },
  {
    method: "get",
    path: "/manage/upstreams/{id}",
    tag: "upstreams",
    summary: "Get an upstream",
    response: { status: 200, schema: Upstream },
  },
  {
    method: "patch",
    path: "/manage/upstreams/{id}",
    tag: "upstreams",
    summary: "Change an upstream (another host needs its key in the same request)",
    body: UpstreamPatch,
    response: { status: 200, schema: Upstream },
  },
  {
    method: "delete",
    path: "/manage/upstreams/{id}",
    tag: "upstreams",
    summary: "Delete an upstream and its keys (409 while an alias targets it)",
    response: { status: 204, description: "Deleted" },
  },
  {
    method: "get",
    path: "/manage/upstreams/{id}/health",
    tag: "upstreams",
    summary: "An upstream's and its keys' recent health",
    query: HealthQuery,
    response: { status: 200, schema: UpstreamHealth },
  },
  {
    method: "post",
    path: "/manage/upstreams/{id}/keys",
    tag: "upstreams",
    summary: "Add a key to an upstream",
    body: KeyCreate,
    response: { status: 201, schema: UpstreamKey },
  },
  {
    method: "patch",
    path: "/manage/upstreams/{id}/keys/{key_id}",
    tag: "upstreams",
    summary: "Change a key's weight or state (re-enabling clears its failing mark)",
    body: KeyPatch,
    response: { status: 200, schema: UpstreamKey },
  },
  {
    method: "post",
    path: "/manage/upstreams/{id}/keys/{key_id}/rotate",
    tag: "upstreams",
    summary: "Rotate a key (new value, same id)",
    body: KeyRotate,
    response: { status: 200, schema: UpstreamKey },
  },
  {
    method: "delete",
    path: "/manage/upstreams/{id}/keys/{key_id}",
    tag: "upstreams",
    summary: "Remove a key",
    response: { status: 204, description: "Removed" },
  },
  {
    method: "get",
    path: "/manage/projects/{id}/aliases",
    tag: "aliases",
    summary: "List a project's model aliases",
    response: { status: 200, schema: listOf(Alias) },
  },
  {
    method: "post",
    path: "/manage/projects/{id}/aliases",
    tag: "aliases",
    summary: "Define a model alias (ordered or weighted targets)",
    body: AliasCreate,
    response: { status: 201, schema: Alias },
  },
  {
    method: "get",
    path: "/manage/aliases/{id}",
    tag: "aliases",
    summary: "Get an alias",
    response: { status: 200, schema: Alias },
  },
  {
    method: "patch",
    path: "/manage/aliases/{id}",
    tag: "aliases",
    summary: "Change an alias",
    body: AliasPatch,
    response: { status: 200, schema: Alias },
  },
  {
    method: "delete",
    path: "/manage/aliases/{id}",
    tag: "aliases",
    summary: "Delete an alias",
    response: { status: 204, description: "Deleted" },
  },
  {
    method: "post",
    path: "/manage/tokens",
    tag: "tokens",
    summary: "Create a withering token (the only response holding its secret)",
    body: TokenCreate,
    response: { status: 201, schema: CreatedToken },
  },
  {
    method: "get",
    path: "/manage/tokens",
    tag: "tokens",
    summary: "List tokens",
    query: TokenListQuery,
    response: { status: 200, schema: listOf(Token) },
  },
  {
    method: "delete",
    path: "/manage/tokens",
    tag: "tokens",
    summary: "Revoke a token by its secret",
    body: RevokeByValue,
    response: { status: 204, description: "Revoked" },
  },
  {
    method: "get",
    path: "/manage/tokens/{id}",
    tag: "tokens",
    summary: "Get a token with live counters",
    response: { status: 200, schema: Token },
  },
  {
    method: "patch",
    path: "/manage/tokens/{id}",
    tag: "tokens",
    summary: "Change a token's limits, expiry or state",
    body: TokenPatch,
    response: { status: 200, schema: Token },
  },
  {
    method: "delete",
    path: "/manage/tokens/{id}",
    tag: "tokens",
    summary: "Revoke a token (idempotent)",
    response: { status: 204, description: "Revoked" },
  },
  {
    method: "get",
    path: "/manage/audit",
    tag: "audit",
    summary: "Management actions, newest first",
    query: AuditQuery,
    response: { status: 200, schema: listOf(AuditEntry) },
  },
];

/** Other areas (usage, events, metrics) add their operations here at module load. */
export function registerOperations(...ops: Operation[]): void {
  operations.push(...ops);
}

const jsonSchema = (schema: z.ZodType, io: "input" | "output") =>
  z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" });

function queryParameters(query: z.ZodObject) {
  const schema = jsonSchema(query, "input") as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(schema.properties ?? {}).map(([name, s]) => ({
    name,
    in: "query",
    required: schema.required?.includes(name) ?? false,
    schema: s,
  }));
}

export function openApiDocument(): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const op of operations) {
    const params: object[] = op.query ? queryParameters(op.query) : [];
    const pathParams = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    params.unshift(
      ...pathParams.map((name) => ({
        name,
        in: "path",
        required: true,
        schema: { type: "string", format: "uuid" },
      })),
    );
    const status = op.response?.status ?? 200;
    const errorResponse = {
      description: "Error",
      content: { "application/json": { schema: jsonSchema(ErrorEnvelope, "output") } },
    };
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      summary: op.summary,
      tags: [op.tag],
      ...(params.length ? { parameters: params } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: jsonSchema(op.body, "input") } },
            },
          }
        : {}),
      responses: {
        [status]: op.response?.schema
          ? {
              description: "OK",
              content: { "application/json": { schema: jsonSchema(op.response.schema, "output") } },
            }
          : { description: op.response?.description ?? "OK" },
        "400": errorResponse,
        "401": errorResponse,
        "404": errorResponse,
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "llm-proxy management API", version: VERSION },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "MANAGEMENT_TOKEN" } },
    },
    paths,
  };
}
