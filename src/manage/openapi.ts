import { z } from "zod";
import type { DocumentedRoutes, Operation } from "../lib/documented-routes";
import { VERSION } from "../version";

const ErrorEnvelope = z.object({
  error: z.object({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable(),
    code: z.string(),
    fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});

const jsonSchema = (schema: z.ZodType, io: "input" | "output") =>
  z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" });

function queryParameters(query: z.ZodType) {
  const schema = jsonSchema(query, "input") as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(schema.properties ?? {}).map(([name, s]) => ({
    name,
    in: "query",
    required: schema.required?.includes(name) ?? false,
    schema: s,
  }));
}

function pathParameters(params: Record<string, z.ZodType>) {
  return Object.entries(params).map(([name, param]) => {
    const { $schema: _, ...schema } = jsonSchema(param, "input");
    return { name, in: "path", required: true, schema };
  });
}

function operationObject(op: Operation): object {
  const params = [
    ...(op.params ? pathParameters(op.params) : []),
    ...(op.query ? queryParameters(op.query) : []),
  ];
  const errorResponse = {
    description: "Error",
    content: { "application/json": { schema: jsonSchema(ErrorEnvelope, "output") } },
  };
  const { status, schema, description } = op.response;
  return {
    summary: op.summary,
    tags: [op.tag],
    ...(op.public ? { security: [] } : {}),
    ...(op.issuingKey ? { security: [{ bearer: [] }, { issuing_key: [] }] } : {}),
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
      [status]: schema
        ? { description: "OK", content: { "application/json": { schema: jsonSchema(schema, "output") } } }
        : { description: description ?? "OK" },
      ...(op.public ? {} : { "400": errorResponse, "401": errorResponse, "404": errorResponse }),
    },
  };
}

/**
 * The OpenAPI 3.1 document of the routes mounted at `base` + each prefix, built from their own declarations
 * (lib/documented-routes.ts), in mounting order.
 */
export function openApiDocument(
  base: string,
  mounts: ReadonlyArray<readonly [string, DocumentedRoutes]>,
  title = "llm-proxy management API",
): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const [prefix, routes] of mounts.map(([p, r]) => [base + p, r] as const)) {
    for (const op of routes.operations) {
      const path = prefix + op.path;
      paths[path] = { ...paths[path], [op.method]: operationObject(op) };
    }
  }
  return {
    openapi: "3.1.0",
    info: { title, version: VERSION },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "MANAGEMENT_TOKEN" },
        issuing_key: {
          type: "http",
          scheme: "bearer",
          description: "An issuing key (ik_…): creates, lists and revokes the tokens of its project only",
        },
      },
    },
    paths,
  };
}
