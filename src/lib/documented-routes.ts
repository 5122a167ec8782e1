import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { z } from "zod";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";
import { readJson, readParam, readQuery } from "./validate";

const outOfScope = () =>
  new ApiError(
    403,
    "forbidden",
    "An issuing key can only create, list and revoke tokens of its own project.",
    {
      retryable: false,
    },
  );

type Method = "get" | "post" | "patch" | "delete";

/** The `:name` parameters of a route path, e.g. `"id"` for `/:id/tokens/revoke`. */
type ParamNames<Path extends string> = Path extends `${string}:${infer Name}/${infer Rest}`
  ? Name | ParamNames<`/${Rest}`>
  : Path extends `${string}:${infer Name}`
    ? Name
    : never;

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

/**
 * What a route declares about itself. The schemas are the ones the request is validated with before the
 * handler runs, and the ones the OpenAPI document shows: they cannot drift apart.
 */
export type RouteSpec<
  Path extends string,
  P extends Record<ParamNames<Path>, z.ZodType>,
  Q extends z.ZodType | undefined,
  B extends z.ZodType | undefined,
> = {
  summary: string;
  /** One schema per `:name` in the path (required by the type when the path has any). */
  params?: P;
  /** The query string, validated as an object of strings (use `z.coerce` for numbers). */
  query?: Q;
  /** The JSON body (415 unless the request says JSON, 400 `validation_error` with `fields`). */
  body?: B;
  response: { status: 200 | 201 | 204; schema?: z.ZodType; description?: string };
  /** Served without the management credential (documented with `security: []`). */
  public?: true;
  /**
   * An issuing key may call it too (src/issuing/keys): only token creation, listing, reading and revocation
   * say so. Every other route refuses issuing keys with 403 before reading the request.
   */
  issuingKey?: true;
  /** Runs around validation and handler: `audited(...)` for routes that change something. */
  audit?: MiddlewareHandler<AppEnv>;
} & ([ParamNames<Path>] extends [never] ? unknown : { params: P });

/** The validated request, as the handler gets it. */
export type RouteInput<P, Q, B> = {
  params: { [K in keyof P]: Parsed<P[K]> };
  query: Parsed<Q>;
  body: Parsed<B>;
};

/** One documented operation, as openapi.ts renders it. `path` is OpenAPI's (`{id}`), below the mount point. */
export type Operation = {
  method: Method;
  path: string;
  tag: string;
  summary: string;
  params?: Record<string, z.ZodType>;
  query?: z.ZodType;
  body?: z.ZodType;
  response: RouteSpec<string, Record<string, z.ZodType>, undefined, undefined>["response"];
  public?: true;
  issuingKey?: true;
};

/**
 * A group of management routes (one area: projects, tokens, usage…) where each route is declared with its
 * schemas and documentation in one call. `app` is the Hono router to mount; `operations` is what the OpenAPI
 * document lists for it: both come from the same declarations, nothing is registered anywhere else.
 */
export class DocumentedRoutes {
  readonly app = new Hono<AppEnv>();
  readonly operations: Operation[] = [];
  readonly tag: string;

  constructor(tag: string) {
    this.tag = tag;
  }

  get<
    Path extends string,
    P extends Record<ParamNames<Path>, z.ZodType>,
    Q extends z.ZodType | undefined = undefined,
    B extends z.ZodType | undefined = undefined,
  >(path: Path, spec: RouteSpec<Path, P, Q, B>, handler: RouteHandler<P, Q, B>): this {
    return this.add("get", path, spec, handler);
  }

  post<
    Path extends string,
    P extends Record<ParamNames<Path>, z.ZodType>,
    Q extends z.ZodType | undefined = undefined,
    B extends z.ZodType | undefined = undefined,
  >(path: Path, spec: RouteSpec<Path, P, Q, B>, handler: RouteHandler<P, Q, B>): this {
    return this.add("post", path, spec, handler);
  }

  patch<
    Path extends string,
    P extends Record<ParamNames<Path>, z.ZodType>,
    Q extends z.ZodType | undefined = undefined,
    B extends z.ZodType | undefined = undefined,
  >(path: Path, spec: RouteSpec<Path, P, Q, B>, handler: RouteHandler<P, Q, B>): this {
    return this.add("patch", path, spec, handler);
  }

  delete<
    Path extends string,
    P extends Record<ParamNames<Path>, z.ZodType>,
    Q extends z.ZodType | undefined = undefined,
    B extends z.ZodType | undefined = undefined,
  >(path: Path, spec: RouteSpec<Path, P, Q, B>, handler: RouteHandler<P, Q, B>): this {
    return this.add("delete", path, spec, handler);
  }

  private add<
    P extends Record<string, z.ZodType>,
    Q extends z.ZodType | undefined,
    B extends z.ZodType | undefined,
  >(method: Method, path: string, spec: RouteSpec<string, P, Q, B>, handler: RouteHandler<P, Q, B>): this {
    const { summary, params, query, body, response } = spec;
    this.operations.push({
      method,
      path: path === "/" ? "" : path.replace(/:(\w+)/g, "{$1}"),
      tag: this.tag,
      summary,
      ...(params ? { params } : {}),
      ...(query ? { query } : {}),
      ...(body ? { body } : {}),
      response,
      ...(spec.public ? { public: true as const } : {}),
      ...(spec.issuingKey ? { issuingKey: true as const } : {}),
    });
    // Validation order: path, query, body — a request is refused for the first thing wrong with it.
    const validated: MiddlewareHandler<AppEnv> = async (c) => {
      if (!spec.issuingKey && c.get("issuer")?.scope) throw outOfScope();
      const input = { params: {}, query: undefined, body: undefined } as RouteInput<P, Q, B>;
      for (const name in params) {
        (input.params as Record<string, unknown>)[name] = readParam(c, name, params[name]!);
      }
      if (query) input.query = readQuery(c, query) as Parsed<Q>;
      if (body) input.body = (await readJson(c, body)) as Parsed<B>;
      return handler(c, input);
    };
    if (spec.audit) this.app.on(method.toUpperCase(), path, spec.audit, validated);
    else this.app.on(method.toUpperCase(), path, validated);
    return this;
  }
}

export type RouteHandler<P, Q, B> = (
  c: Context<AppEnv>,
  input: RouteInput<P, Q, B>,
) => Response | Promise<Response>;
