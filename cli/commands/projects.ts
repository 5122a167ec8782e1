import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { listAll, type ManagementClient } from "../client";
import { action } from "../context";
import { usageError } from "../errors";
import { type Column, note, print, printJson, renderRecord, renderTable } from "../output";
import { jsonObject, list, positiveInt, UUID_RE } from "../parse";

export type Project = {
  id: string;
  name: string;
  provider: string | null;
  base_url: string | null;
  api_key_hint: string | null;
  is_active: boolean;
  created_at: string;
  [k: string]: unknown;
};

const columns: Column<Project>[] = [
  { header: "id", value: (p) => p.id },
  { header: "name", value: (p) => p.name },
  { header: "provider", value: (p) => p.provider },
  { header: "base_url", value: (p) => p.base_url },
  { header: "key", value: (p) => p.api_key_hint },
  { header: "active", value: (p) => p.is_active },
  { header: "created", value: (p) => p.created_at },
];

/** A project id, or a name looked up in the list (names are unique). */
export async function resolveProjectId(client: ManagementClient, ref: string): Promise<string> {
  if (UUID_RE.test(ref)) return ref;
  const all = await listAll<Project>(client, "/manage/projects", {}, 10_000);
  const found = all.find((p) => p.name === ref);
  if (!found) throw usageError(`No project named '${ref}'.`, "See `llm-proxy project list`.");
  return found.id;
}

type ProjectFlags = {
  name?: string;
  apiKey?: string;
  baseUrl?: string;
  provider?: string;
  providerSettings?: Record<string, unknown>;
  description?: string;
  metadata?: Record<string, unknown>;
  allowedOrigins?: string[];
  allowedModels?: string[];
  capabilities?: string[];
  objectScope?: string;
  active?: boolean;
  cacheTtl?: number;
  cacheExclude?: string[];
  cacheHitsSkipRateLimits?: boolean;
  cacheOff?: boolean;
};

type CacheSettings = { ttl_seconds: number; exclude: string[]; hits_skip_rate_limits: boolean };

const hasCacheFlags = (f: ProjectFlags) =>
  f.cacheTtl !== undefined || f.cacheExclude !== undefined || f.cacheHitsSkipRateLimits !== undefined;

/**
 * The project's response cache from the flags, on top of its current settings (an update that only adds
 * an exclusion keeps the TTL). `--cache-off` turns it off.
 */
function cacheBody(f: ProjectFlags, current: CacheSettings | null): CacheSettings | null | undefined {
  if (f.cacheOff) {
    if (hasCacheFlags(f)) throw usageError("--cache-off turns the cache off: give no other --cache option.");
    return null;
  }
  if (!hasCacheFlags(f)) return undefined;
  const ttl = f.cacheTtl ?? current?.ttl_seconds;
  if (ttl === undefined)
    throw usageError("The cache is off for this project: give --cache-ttl to turn it on.");
  return {
    ttl_seconds: ttl,
    exclude: f.cacheExclude ?? current?.exclude ?? [],
    hits_skip_rate_limits: f.cacheHitsSkipRateLimits ?? current?.hits_skip_rate_limits ?? false,
  };
}

function body(f: ProjectFlags): Record<string, unknown> {
  const b: Record<string, unknown> = {};
  if (f.name !== undefined) b.name = f.name;
  if (f.apiKey !== undefined) b.api_key = f.apiKey === "-" ? readStdinLine() : f.apiKey;
  if (f.baseUrl !== undefined) b.base_url = f.baseUrl;
  if (f.provider !== undefined) b.provider = f.provider;
  if (f.providerSettings !== undefined) b.provider_settings = f.providerSettings;
  if (f.description !== undefined) b.description = f.description;
  if (f.metadata !== undefined) b.metadata = f.metadata;
  if (f.allowedOrigins !== undefined) b.allowed_origins = f.allowedOrigins.length ? f.allowedOrigins : null;
  if (f.allowedModels !== undefined) b.allowed_models = f.allowedModels.length ? f.allowedModels : null;
  if (f.capabilities !== undefined) b.capabilities = f.capabilities;
  if (f.objectScope !== undefined) b.object_scope = f.objectScope;
  if (f.active !== undefined) b.is_active = f.active;
  return b;
}

function readStdinLine(): string {
  // Keeps the upstream key out of shell history and `ps`: `--api-key -` reads it from stdin.
  return readFileSync(0, "utf8").trim();
}

function addProjectFields(cmd: Command): Command {
  return cmd
    .option("--api-key <key>", "the upstream provider's API key ('-' reads it from stdin)")
    .option(
      "--base-url <url>",
      "the upstream's base URL (default: the provider's; Azure: the resource endpoint)",
    )
    .addOption(
      new Option("--provider <provider>", "upstream kind").choices([
        "openai",
        "openai-compatible",
        "azure",
        "anthropic",
        "gemini",
      ]),
    )
    .option(
      "--provider-settings <json>",
      'per provider, e.g. Azure {"deployments": {"gpt-4o": "prod"}, "api_version": "2024-10-21"}',
      jsonObject,
    )
    .option("--description <text>", "free text")
    .option("--metadata <json>", "a JSON object", jsonObject)
    .option("--allowed-origins <list>", "browser origins allowed, comma-separated ('' = any)", list)
    .option("--allowed-models <list>", "models every token may use, comma-separated ('' = all)", list)
    .option("--cache-ttl <seconds>", "turn the response cache on: answers are reused this long", positiveInt)
    .option(
      "--cache-exclude <list>",
      "endpoints kept out of the cache, comma-separated (e.g. /embeddings; '' = none)",
      list,
    )
    .addOption(
      new Option("--cache-hits-skip-rate-limits", "cache hits take no rate-window slot").conflicts(
        "cacheHitsCountRateLimits",
      ),
    )
    .option("--cache-hits-count-rate-limits", "cache hits count against rate windows (the default)")
    .option(
      "--capabilities <list>",
      "account-wide endpoints its tokens may use, comma-separated ('' = inference only): files, batches, " +
        "vector_stores, stored_completions, conversations, fine_tuning, model_deletion",
      list,
    )
    .addOption(
      new Option(
        "--object-scope <scope>",
        "who reaches an object a token created: the token itself, or every token of the project",
      ).choices(["token", "project"]),
    );
}

type CacheFlagsIn = ProjectFlags & { cacheHitsCountRateLimits?: boolean };

/** Commander's two flags for one setting, as one optional boolean. */
function cacheFlags<T extends CacheFlagsIn>(o: T): Omit<T, "cacheHitsCountRateLimits"> {
  const { cacheHitsCountRateLimits, ...rest } = o;
  if (cacheHitsCountRateLimits) rest.cacheHitsSkipRateLimits = false;
  return rest;
}

function show(json: boolean, p: Project): void {
  if (json) printJson(p);
  else print(renderRecord(p));
}

export function projectCommand(): Command {
  const cmd = new Command("project").description("manage projects (an upstream key and its tokens)");

  cmd
    .command("list")
    .description("list projects")
    .addOption(new Option("--active", "only active projects").conflicts("inactive"))
    .option("--inactive", "only deactivated projects")
    .option("--limit <n>", "at most this many", positiveInt, 1000)
    .action(
      action(async ({ client, json }, o: { active?: boolean; inactive?: boolean; limit: number }) => {
        const isActive = o.active ? "true" : o.inactive ? "false" : undefined;
        const rows = await listAll<Project>(client, "/manage/projects", { is_active: isActive }, o.limit);
        if (json) printJson(rows);
        else if (rows.length === 0)
          note("No projects yet: `llm-proxy project create --name NAME --api-key -`.");
        else print(renderTable(rows, columns));
      }),
    );

  cmd
    .command("get <project>")
    .description("show a project (by id or name)")
    .action(
      action(async ({ client, json }, ref: string) => {
        const id = await resolveProjectId(client, ref);
        show(json, await client.get<Project>(`/manage/projects/${id}`));
      }),
    );

  addProjectFields(
    cmd.command("create").description("create a project").requiredOption("--name <name>", "unique name"),
  ).action(
    action(async ({ client, json }, flags: CacheFlagsIn) => {
      const o = cacheFlags(flags);
      if (o.apiKey === undefined) throw usageError("--api-key is required ('-' reads it from stdin).");
      const cache = cacheBody(o, null);
      show(json, await client.post<Project>("/manage/projects", { ...body(o), ...(cache ? { cache } : {}) }));
    }),
  );

  addProjectFields(
    cmd.command("update <project>").description("change a project; a new --api-key rotates the upstream key"),
  )
    .option("--name <name>", "new name")
    .addOption(new Option("--activate", "reactivate the project").conflicts("deactivate"))
    .option("--deactivate", "deactivate: its tokens stop working")
    .option("--cache-off", "turn the response cache off")
    .action(
      action(
        async (
          { client, json },
          ref: string,
          flags: CacheFlagsIn & { activate?: boolean; deactivate?: boolean },
        ) => {
          const o = cacheFlags(flags);
          const patch = body({ ...o, active: o.activate ? true : o.deactivate ? false : undefined });
          const changesCache = o.cacheOff || hasCacheFlags(o);
          if (Object.keys(patch).length === 0 && !changesCache)
            throw usageError("Nothing to change: give at least one option.");
          const id = await resolveProjectId(client, ref);
          if (changesCache) {
            const current = o.cacheOff ? null : await client.get<Project>(`/manage/projects/${id}`);
            patch.cache = cacheBody(o, (current?.cache as CacheSettings | null | undefined) ?? null);
          }
          show(json, await client.patch<Project>(`/manage/projects/${id}`, patch));
        },
      ),
    );

  cmd
    .command("delete <project>")
    .description("delete a project; all its tokens stop at once")
    .option("--yes", "confirm the deletion")
    .action(
      action(async ({ client, json }, ref: string, o: { yes?: boolean }) => {
        if (!o.yes) throw usageError("Deleting a project stops all its tokens: add --yes to confirm.");
        const id = await resolveProjectId(client, ref);
        await client.delete(`/manage/projects/${id}`);
        if (json) printJson({ deleted: id });
        else note(`Deleted project ${id}.`);
      }),
    );

  cmd
    .command("purge-cache <project>")
    .description("purge a project's response cache: no answer cached before now is served again")
    .action(
      action(async ({ client, json }, ref: string) => {
        const id = await resolveProjectId(client, ref);
        const r = await client.delete<{ cache_generation: number }>(`/manage/projects/${id}/cache`);
        if (json) printJson(r);
        else print(`Purged the response cache of project ${id} (generation ${r.cache_generation}).`);
      }),
    );

  cmd
    .command("revoke-tokens <project>")
    .description("revoke every token of a project")
    .action(
      action(async ({ client, json }, ref: string) => {
        const id = await resolveProjectId(client, ref);
        const r = await client.post<{ revoked_count: number }>(`/manage/projects/${id}/tokens/revoke`);
        if (json) printJson(r);
        else print(`Revoked ${r.revoked_count} token(s) of project ${id}.`);
      }),
    );

  return cmd;
}
