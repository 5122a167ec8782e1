import type { Connection } from "./config";
import { CliError, EXIT } from "./errors";

export type ApiErrorBody = {
  error?: { message?: string; code?: string; fields?: { path: string; message: string }[] };
};

export type Query = Record<string, string | number | boolean | undefined>;

type RequestOptions = { query?: Query; body?: unknown; timeoutMs?: number; text?: boolean };

function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ""}`;
  return cause?.message ?? (err as Error).message;
}

/** A small client for the management API: JSON in and out, API errors and network errors as CliErrors. */
export class ManagementClient {
  constructor(readonly conn: Connection) {}

  url(path: string, query?: Query): string {
    const url = new URL(`${this.conn.url}${path}`);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    }
    return url.toString();
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { accept: "application/json", "user-agent": "llm-proxy-cli" };
    if (this.conn.token) headers.authorization = `Bearer ${this.conn.token}`;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      const timedOut = (err as Error).name === "TimeoutError";
      throw new CliError(
        timedOut
          ? `The gateway at ${this.conn.url} did not answer in time.`
          : `Cannot reach the gateway at ${this.conn.url}: ${describeNetworkError(err)}.`,
        EXIT.unreachable,
        "Check --url / LLM_PROXY_URL; for a local gateway, start it with `npm run dev`.",
      );
    }
    const text = await res.text();
    if (res.ok) return (opts.text ? text : text ? JSON.parse(text) : undefined) as T;
    throw this.apiError(res, text);
  }

  private apiError(res: Response, text: string): CliError {
    let body: ApiErrorBody | undefined;
    try {
      body = JSON.parse(text) as ApiErrorBody;
    } catch {
      body = undefined;
    }
    const code = body?.error?.code ?? `http_${res.status}`;
    const message = body?.error?.message ?? (text.slice(0, 200) || res.statusText);
    const exit = res.status >= 500 ? EXIT.unreachable : EXIT.refused;
    let hint: string | undefined;
    if (res.status === 401) {
      hint = this.conn.token
        ? `The management token (from ${this.conn.tokenSource}) was refused: check it matches the gateway's MANAGEMENT_TOKEN secret.`
        : "No management token: pass --management-token or set LLM_PROXY_MANAGEMENT_TOKEN.";
    } else if (res.status === 404 && message.startsWith("No route for")) {
      hint = `The gateway at ${this.conn.url} does not have this API: is it an older version? Deploy the current one.`;
    } else if (res.status === 404 && code !== "not_found") {
      hint = `Is ${this.conn.url} an llm-proxy gateway?`;
    } else if (!body?.error) {
      hint = `The answer is not an llm-proxy error: is ${this.conn.url} an llm-proxy gateway?`;
    }
    const fields = body?.error?.fields?.map((f) => `\n  ${f.path}: ${f.message}`).join("") ?? "";
    return new CliError(`${res.status} ${code}: ${message}${fields}`, exit, hint, body);
  }

  get<T>(path: string, query?: Query) {
    return this.request<T>("GET", path, { query });
  }
  post<T>(path: string, body?: unknown) {
    return this.request<T>("POST", path, { body: body ?? {} });
  }
  patch<T>(path: string, body: unknown) {
    return this.request<T>("PATCH", path, { body });
  }
  delete<T>(path: string, body?: unknown) {
    return this.request<T>("DELETE", path, { body });
  }
}

export type Page<T> = { data: T[]; next_cursor: string | null };

/** Follows `next_cursor` until `limit` items (or the end) are collected. */
export async function listAll<T>(
  client: ManagementClient,
  path: string,
  query: Query,
  limit: number,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.get<Page<T>>(path, {
      ...query,
      limit: Math.min(500, limit - out.length),
      cursor,
    });
    out.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor && out.length < limit);
  return out;
}
