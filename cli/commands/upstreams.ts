import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { PRESET_NAMES, PRESETS, type PresetName } from "../../src/upstreams/presets";
import type { ManagementClient } from "../client";
import { action } from "../context";
import { usageError } from "../errors";
import { type Column, note, print, printJson, renderRecord, renderTable } from "../output";
import { jsonObject, list, nonNegativeInt, positiveInt, UUID_RE } from "../parse";
import { resolveProjectId } from "./projects";

type Key = { id: string; hint: string; weight: number; is_active: boolean; failing: boolean };
export type Upstream = {
  id: string;
  name: string;
  provider: string;
  base_url: string;
  models: string[] | null;
  position: number;
  is_active: boolean;
  keys: Key[];
  [k: string]: unknown;
};
type Alias = {
  id: string;
  name: string;
  strategy: string;
  targets: { upstream: string; model: string; weight?: number }[];
};

const upstreamColumns: Column<Upstream>[] = [
  { header: "id", value: (u) => u.id },
  { header: "name", value: (u) => u.name },
  { header: "provider", value: (u) => u.provider },
  { header: "base_url", value: (u) => u.base_url },
  { header: "models", value: (u) => u.models?.join(",") ?? "any" },
  { header: "keys", value: (u) => u.keys.map((k) => `${k.hint}${k.failing ? " (failing)" : ""}`).join(" ") },
  { header: "active", value: (u) => u.is_active },
];

const aliasColumns: Column<Alias>[] = [
  { header: "name", value: (a) => a.name },
  { header: "strategy", value: (a) => a.strategy },
  {
    header: "targets",
    value: (a) =>
      a.targets
        .map((t) => `${t.upstream}:${t.model}${t.weight !== undefined ? `=${t.weight}` : ""}`)
        .join(" "),
  },
  { header: "id", value: (a) => a.id },
];

function readKey(value: string): string {
  // '-' keeps the key out of shell history and `ps`: it is read from stdin.
  return value === "-" ? readFileSync(0, "utf8").trim() : value;
}

function statusList(value: string): number[] {
  return list(value).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new InvalidArgumentError("must be HTTP statuses, e.g. 429,503");
    return n;
  });
}

/** An upstream by id, or by name within --project. */
async function resolveUpstreamId(client: ManagementClient, ref: string, project?: string): Promise<string> {
  if (UUID_RE.test(ref)) return ref;
  if (!project) throw usageError(`'${ref}' is not an upstream id: give --project to find it by name.`);
  const projectId = await resolveProjectId(client, project);
  const { data } = await client.get<{ data: Upstream[] }>(`/manage/projects/${projectId}/upstreams`);
  const found = data.find((u) => u.name === ref);
  if (!found)
    throw usageError(
      `Project '${project}' has no upstream named '${ref}'.`,
      "See `llm-proxy upstream list`.",
    );
  return found.id;
}

type UpstreamFlags = {
  name?: string;
  preset?: PresetName;
  provider?: string;
  baseUrl?: string;
  apiKey?: string;
  models?: string[];
  settings?: Record<string, unknown>;
  firstByteTimeout?: number;
  retryOn?: number[];
  position?: number;
};

function upstreamBody(f: UpstreamFlags): Record<string, unknown> {
  const b: Record<string, unknown> = {};
  if (f.name !== undefined) b.name = f.name;
  if (f.preset !== undefined) {
    b.provider = "openai-compatible";
    b.base_url = PRESETS[f.preset].baseUrl;
  }
  if (f.provider !== undefined) b.provider = f.provider;
  if (f.baseUrl !== undefined) b.base_url = f.baseUrl;
  if (f.apiKey !== undefined) b.api_key = readKey(f.apiKey);
  if (f.models !== undefined) b.models = f.models.length ? f.models : null;
  if (f.settings !== undefined) b.settings = f.settings;
  if (f.firstByteTimeout !== undefined) b.first_byte_timeout_ms = f.firstByteTimeout;
  if (f.retryOn !== undefined) b.retry_on = f.retryOn.length ? f.retryOn : null;
  if (f.position !== undefined) b.position = f.position;
  return b;
}

function upstreamFields(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--preset <name>", "an OpenAI-compatible service: sets provider and base URL").choices(
        PRESET_NAMES,
      ),
    )
    .addOption(
      new Option("--provider <provider>", "what the upstream speaks").choices([
        "openai",
        "openai-compatible",
      ]),
    )
    .option("--base-url <url>", "the upstream's base URL")
    .option("--api-key <key>", "its API key ('-' reads it from stdin)")
    .option("--models <list>", "models it serves, exact or prefix* ('' = any)", list)
    .option("--settings <json>", "provider settings, a JSON object", jsonObject)
    .option(
      "--first-byte-timeout <ms>",
      "give an attempt up after this long without a first byte",
      positiveInt,
    )
    .option("--retry-on <statuses>", "statuses retried elsewhere ('' = 429,500,502,503,504,529)", statusList)
    .option("--position <n>", "order among the project's upstreams (lowest first)", nonNegativeInt);
}

function showUpstream(json: boolean, u: Upstream): void {
  if (json) printJson(u);
  else {
    const { keys, ...rest } = u;
    print(renderRecord(rest));
    if (keys.length)
      print(
        renderTable(keys, [
          { header: "key id", value: (k) => k.id },
          { header: "hint", value: (k) => k.hint },
          { header: "weight", value: (k) => k.weight },
          { header: "active", value: (k) => k.is_active },
          { header: "failing", value: (k) => k.failing },
        ]),
      );
  }
}

export function upstreamCommand(): Command {
  const cmd = new Command("upstream").description(
    "manage a project's upstreams (providers, base URLs, keys)",
  );
  const projectOpt = () =>
    new Option("--project <project>", "the project (id or name), to find upstreams by name");

  cmd
    .command("list")
    .description("list a project's upstreams")
    .requiredOption("--project <project>", "project id or name")
    .action(
      action(async ({ client, json }, o: { project: string }) => {
        const id = await resolveProjectId(client, o.project);
        const { data } = await client.get<{ data: Upstream[] }>(`/manage/projects/${id}/upstreams`);
        if (json) printJson(data);
        else print(renderTable(data, upstreamColumns));
      }),
    );

  cmd
    .command("get <upstream>")
    .description("show an upstream (by id, or by name with --project)")
    .addOption(projectOpt())
    .action(
      action(async ({ client, json }, ref: string, o: { project?: string }) => {
        const id = await resolveUpstreamId(client, ref, o.project);
        showUpstream(json, await client.get<Upstream>(`/manage/upstreams/${id}`));
      }),
    );

  upstreamFields(
    cmd
      .command("add")
      .description("add an upstream to a project")
      .requiredOption("--project <project>", "project id or name")
      .requiredOption("--name <name>", "unique within the project; aliases name it"),
  ).action(
    action(async ({ client, json }, o: UpstreamFlags & { project: string }) => {
      if (o.baseUrl === undefined && o.preset === undefined && o.provider !== "openai") {
        throw usageError("Give --base-url or --preset (or --provider openai for api.openai.com).");
      }
      const id = await resolveProjectId(client, o.project);
      showUpstream(json, await client.post<Upstream>(`/manage/projects/${id}/upstreams`, upstreamBody(o)));
    }),
  );

  upstreamFields(
    cmd
      .command("update <upstream>")
      .description("change an upstream; a new host needs --api-key too (it replaces the keys)")
      .addOption(projectOpt())
      .option("--name <name>", "new name (aliases follow)"),
  )
    .addOption(new Option("--activate", "send traffic to it again").conflicts("deactivate"))
    .option("--deactivate", "stop sending traffic to it")
    .action(
      action(
        async (
          { client, json },
          ref: string,
          o: UpstreamFlags & { project?: string; activate?: boolean; deactivate?: boolean },
        ) => {
          const patch = upstreamBody(o);
          if (o.activate) patch.is_active = true;
          if (o.deactivate) patch.is_active = false;
          if (Object.keys(patch).length === 0)
            throw usageError("Nothing to change: give at least one option.");
          const id = await resolveUpstreamId(client, ref, o.project);
          showUpstream(json, await client.patch<Upstream>(`/manage/upstreams/${id}`, patch));
        },
      ),
    );

  cmd
    .command("delete <upstream>")
    .description("delete an upstream and its keys (refused while an alias targets it)")
    .addOption(projectOpt())
    .option("--yes", "confirm")
    .action(
      action(async ({ client, json }, ref: string, o: { project?: string; yes?: boolean }) => {
        if (!o.yes) throw usageError("Deleting an upstream deletes its keys: add --yes to confirm.");
        const id = await resolveUpstreamId(client, ref, o.project);
        await client.delete(`/manage/upstreams/${id}`);
        if (json) printJson({ deleted: id });
        else note(`Deleted upstream ${id}.`);
      }),
    );

  cmd
    .command("health <upstream>")
    .description("requests, errors, failed attempts and latency of an upstream and its keys")
    .addOption(projectOpt())
    .option("--hours <n>", "how many recent hours (default 1)", positiveInt, 1)
    .action(
      action(async ({ client, json }, ref: string, o: { project?: string; hours: number }) => {
        const id = await resolveUpstreamId(client, ref, o.project);
        const h = await client.get<Record<string, unknown> & { keys: Record<string, unknown>[] }>(
          `/manage/upstreams/${id}/health`,
          { hours: o.hours },
        );
        if (json) printJson(h);
        else {
          const { keys, ...rest } = h;
          print(renderRecord(rest));
          print(
            renderTable(keys, [
              { header: "key", value: (k) => String(k.hint) },
              { header: "failing", value: (k) => String(k.failing) },
              { header: "requests", value: (k) => String(k.requests) },
              { header: "errors", value: (k) => String(k.errors) },
              { header: "429s", value: (k) => String(k.rate_limited) },
              { header: "failed attempts", value: (k) => String(k.failed_attempts) },
              { header: "avg ttfb ms", value: (k) => String(k.avg_ttfb_ms ?? "–") },
            ]),
          );
        }
      }),
    );

  const key = cmd.command("key").description("an upstream's keys: add, rotate, update, remove");
  key
    .command("add <upstream>")
    .description("add a key")
    .addOption(projectOpt())
    .requiredOption("--api-key <key>", "the key ('-' reads it from stdin)")
    .option("--weight <n>", "share of requests relative to the other keys (default 1)", positiveInt)
    .action(
      action(
        async ({ client, json }, ref: string, o: { project?: string; apiKey: string; weight?: number }) => {
          const id = await resolveUpstreamId(client, ref, o.project);
          const body: Record<string, unknown> = { api_key: readKey(o.apiKey) };
          if (o.weight !== undefined) body.weight = o.weight;
          const k = await client.post<Key>(`/manage/upstreams/${id}/keys`, body);
          if (json) printJson(k);
          else print(renderRecord(k));
        },
      ),
    );
  key
    .command("rotate <upstream> <key-id>")
    .description("give a key a new value (same id; clears a failing mark)")
    .addOption(projectOpt())
    .requiredOption("--api-key <key>", "the new value ('-' reads it from stdin)")
    .action(
      action(
        async ({ client, json }, ref: string, keyId: string, o: { project?: string; apiKey: string }) => {
          const id = await resolveUpstreamId(client, ref, o.project);
          const k = await client.post<Key>(`/manage/upstreams/${id}/keys/${keyId}/rotate`, {
            api_key: readKey(o.apiKey),
          });
          if (json) printJson(k);
          else print(renderRecord(k));
        },
      ),
    );
  key
    .command("update <upstream> <key-id>")
    .description("change a key's weight, or enable (clears a failing mark) / disable it")
    .addOption(projectOpt())
    .option("--weight <n>", "new weight", positiveInt)
    .addOption(new Option("--enable", "use it again").conflicts("disable"))
    .option("--disable", "stop using it")
    .action(
      action(
        async (
          { client, json },
          ref: string,
          keyId: string,
          o: { project?: string; weight?: number; enable?: boolean; disable?: boolean },
        ) => {
          const patch: Record<string, unknown> = {};
          if (o.weight !== undefined) patch.weight = o.weight;
          if (o.enable) patch.is_active = true;
          if (o.disable) patch.is_active = false;
          if (Object.keys(patch).length === 0)
            throw usageError("Nothing to change: give --weight, --enable or --disable.");
          const id = await resolveUpstreamId(client, ref, o.project);
          const k = await client.patch<Key>(`/manage/upstreams/${id}/keys/${keyId}`, patch);
          if (json) printJson(k);
          else print(renderRecord(k));
        },
      ),
    );
  key
    .command("remove <upstream> <key-id>")
    .description("remove a key")
    .addOption(projectOpt())
    .option("--yes", "confirm")
    .action(
      action(async ({ client, json }, ref: string, keyId: string, o: { project?: string; yes?: boolean }) => {
        if (!o.yes) throw usageError("Removing a key cannot be undone: add --yes to confirm.");
        const id = await resolveUpstreamId(client, ref, o.project);
        await client.delete(`/manage/upstreams/${id}/keys/${keyId}`);
        if (json) printJson({ removed: keyId });
        else note(`Removed key ${keyId}.`);
      }),
    );
  return cmd;
}

/** `upstream:model` or `upstream:model=weight`. */
function target(value: string): { upstream: string; model: string; weight?: number } {
  const m = /^([^:]+):(.+?)(?:=(\d+))?$/.exec(value);
  if (!m) throw new InvalidArgumentError("targets look like upstream:model or upstream:model=weight");
  return { upstream: m[1]!, model: m[2]!, ...(m[3] !== undefined ? { weight: Number(m[3]) } : {}) };
}

export function aliasCommand(): Command {
  const cmd = new Command("alias").description(
    "manage a project's model aliases (a name → ordered or weighted targets)",
  );

  cmd
    .command("list")
    .description("list a project's aliases")
    .requiredOption("--project <project>", "project id or name")
    .action(
      action(async ({ client, json }, o: { project: string }) => {
        const id = await resolveProjectId(client, o.project);
        const { data } = await client.get<{ data: Alias[] }>(`/manage/projects/${id}/aliases`);
        if (json) printJson(data);
        else print(renderTable(data, aliasColumns));
      }),
    );

  cmd
    .command("set <name> <targets...>")
    .description(
      "create or replace an alias: targets are upstream:model (or upstream:model=weight), in order",
    )
    .requiredOption("--project <project>", "project id or name")
    .option("--weighted", "pick the first target by weight (the others are fallbacks)")
    .action(
      action(
        async ({ client, json }, name: string, raw: string[], o: { project: string; weighted?: boolean }) => {
          const targets = raw.map((t) => {
            try {
              return target(t);
            } catch (err) {
              throw usageError(`${(err as Error).message}: '${t}'.`);
            }
          });
          const projectId = await resolveProjectId(client, o.project);
          const body = { name, strategy: o.weighted ? "weighted" : "ordered", targets };
          const { data } = await client.get<{ data: Alias[] }>(`/manage/projects/${projectId}/aliases`);
          const existing = data.find((a) => a.name === name);
          const alias = existing
            ? await client.patch<Alias>(`/manage/aliases/${existing.id}`, body)
            : await client.post<Alias>(`/manage/projects/${projectId}/aliases`, body);
          if (json) printJson(alias);
          else print(renderTable([alias], aliasColumns));
        },
      ),
    );

  cmd
    .command("delete <name>")
    .description("delete an alias")
    .requiredOption("--project <project>", "project id or name")
    .action(
      action(async ({ client, json }, name: string, o: { project: string }) => {
        const projectId = await resolveProjectId(client, o.project);
        const { data } = await client.get<{ data: Alias[] }>(`/manage/projects/${projectId}/aliases`);
        const found = data.find((a) => a.name === name || a.id === name);
        if (!found) throw usageError(`Project '${o.project}' has no alias '${name}'.`);
        await client.delete(`/manage/aliases/${found.id}`);
        if (json) printJson({ deleted: found.id });
        else note(`Deleted alias ${name}.`);
      }),
    );
  return cmd;
}
