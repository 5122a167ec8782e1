import { type Context, Hono } from "hono";
import { ApiError } from "../../lib/errors";
import { Uuid } from "../../lib/schemas";
import { parseWith, readParam } from "../../lib/validate";
import { requireProject } from "../../projects/service";
import {
  createAlias,
  listProjectAliases,
  patchAlias,
  removeAlias,
  requireAlias,
} from "../../upstreams/aliases";
import { upstreamHealth } from "../../upstreams/health";
import { addKey, patchKey, rotateKey } from "../../upstreams/keys";
import { PRESET_NAMES, PRESETS, type PresetName } from "../../upstreams/presets";
import {
  AliasCreate,
  KeyCreate,
  PROVIDERS,
  toAlias,
  toUpstream,
  UpstreamCreate,
} from "../../upstreams/schema";
import { createUpstream, listProjectUpstreams, requireUpstream } from "../../upstreams/service";
import type { AdminEnv } from "../context";
import { audited, errorText, type Form, flashFrom, readForm } from "../forms";
import { RoutesPage } from "../views/upstreams";

const presets = PRESET_NAMES.map((name) => ({ name, ...PRESETS[name] }));

async function page(
  c: Context<AdminEnv>,
  projectId: string,
  extra: { values?: Form; error?: { form: "upstream" | "alias" | "key"; text: string } } = {},
  status: 200 | 400 = 200,
) {
  const project = await requireProject(c.env, projectId);
  const [rows, aliases] = await Promise.all([
    listProjectUpstreams(c.env, projectId),
    listProjectAliases(c.env, projectId),
  ]);
  const upstreams = await Promise.all(
    rows.map(async (r) => ({
      upstream: toUpstream(r.upstream, r.keys),
      health: await upstreamHealth(c.env, r.upstream.id, { hours: 1 }).catch(() => null),
    })),
  );
  return c.html(
    <RoutesPage
      csrf={c.get("session").csrf}
      flash={flashFrom(c)}
      project={project}
      upstreams={upstreams}
      aliases={aliases.map(toAlias)}
      presets={presets}
      providers={PROVIDERS}
      {...extra}
    />,
    status,
  );
}

const back = (projectId: string, msg: string) => `/admin/projects/${projectId}/routes?msg=${msg}`;

/** `upstream:model` or `upstream:model=weight`, one per line. */
function targetLines(text: string | undefined) {
  return (text ?? "")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const m = /^([^:\s]+):(\S+?)(?:=(\d+))?$/.exec(line);
      if (!m)
        throw new ApiError(
          400,
          "validation_error",
          `'${line}' is not upstream:model or upstream:model=weight.`,
        );
      return { upstream: m[1]!, model: m[2]!, ...(m[3] !== undefined ? { weight: Number(m[3]) } : {}) };
    });
}

/** Mounted at /admin: a project's routes page and the forms it posts. */
export const upstreamAdminRoutes = new Hono<AdminEnv>()
  .get("/projects/:id/routes", (c) => page(c, readParam(c, "id", Uuid)))
  .post("/projects/:id/upstreams", async (c) => {
    const projectId = readParam(c, "id", Uuid);
    const form = await readForm(c);
    try {
      const preset = form.preset ? PRESETS[form.preset as PresetName] : undefined;
      const input = parseWith(
        UpstreamCreate,
        {
          name: form.name ?? "",
          provider: preset ? "openai-compatible" : form.provider,
          base_url: form.base_url || preset?.baseUrl || undefined,
          ...(form.api_key ? { api_key: form.api_key } : {}),
          ...(form.models?.trim()
            ? {
                models: form.models
                  .split(",")
                  .map((m) => m.trim())
                  .filter(Boolean),
              }
            : {}),
          ...(form.first_byte_timeout_ms
            ? { first_byte_timeout_ms: Number(form.first_byte_timeout_ms) }
            : {}),
        },
        "form",
      );
      await audited(
        c,
        "upstream.create",
        "project",
        projectId,
        () => createUpstream(c.env, projectId, input),
        (r) => ({ details: { upstream_id: r.upstream.id, name: r.upstream.name, keys: r.keys.length } }),
      );
      return c.redirect(back(projectId, "upstream_added"), 303);
    } catch (err) {
      return page(
        c,
        projectId,
        { values: { ...form, api_key: "" }, error: { form: "upstream", text: errorText(err) } },
        400,
      );
    }
  })
  .post("/upstreams/:id/keys", async (c) => {
    const upstream = await requireUpstream(c.env, readParam(c, "id", Uuid));
    const form = await readForm(c);
    try {
      const input = parseWith(
        KeyCreate,
        { api_key: form.api_key ?? "", weight: Number(form.weight || 1) },
        "form",
      );
      await audited(
        c,
        "upstream_key.add",
        "upstream",
        upstream.id,
        () => addKey(c.env, upstream.id, input),
        (k) => ({ details: { key_id: k.id, hint: k.keyHint } }),
      );
      return c.redirect(back(upstream.projectId, "upstream_key_added"), 303);
    } catch (err) {
      return page(c, upstream.projectId, { error: { form: "key", text: errorText(err) } }, 400);
    }
  })
  .post("/upstreams/:id/keys/:key_id/rotate", async (c) => {
    const upstream = await requireUpstream(c.env, readParam(c, "id", Uuid));
    const keyId = readParam(c, "key_id", Uuid);
    const form = await readForm(c);
    try {
      const apiKey = parseWith(KeyCreate, { api_key: form.api_key ?? "" }, "form").api_key;
      await audited(
        c,
        "upstream_key.rotate",
        "upstream",
        upstream.id,
        () => rotateKey(c.env, upstream.id, keyId, apiKey),
        (k) => ({ details: { key_id: keyId, hint: k.keyHint } }),
      );
      return c.redirect(back(upstream.projectId, "upstream_key_rotated"), 303);
    } catch (err) {
      return page(c, upstream.projectId, { error: { form: "key", text: errorText(err) } }, 400);
    }
  })
  .post("/upstreams/:id/keys/:key_id/enable", async (c) => {
    const upstream = await requireUpstream(c.env, readParam(c, "id", Uuid));
    const keyId = readParam(c, "key_id", Uuid);
    await audited(
      c,
      "upstream_key.update",
      "upstream",
      upstream.id,
      () => patchKey(c.env, upstream.id, keyId, { is_active: true }),
      () => ({ details: { key_id: keyId, fields: ["is_active"] } }),
    );
    return c.redirect(back(upstream.projectId, "upstream_key_enabled"), 303);
  })
  .post("/projects/:id/aliases", async (c) => {
    const projectId = readParam(c, "id", Uuid);
    const form = await readForm(c);
    try {
      const input = parseWith(
        AliasCreate,
        {
          name: form.alias_name ?? "",
          strategy: form.strategy || "ordered",
          targets: targetLines(form.targets),
        },
        "form",
      );
      const existing = (await listProjectAliases(c.env, projectId)).find((a) => a.name === input.name);
      if (existing) {
        await audited(
          c,
          "alias.update",
          "alias",
          existing.id,
          () => patchAlias(c.env, existing.id, { strategy: input.strategy, targets: input.targets }),
          () => ({ details: { fields: ["strategy", "targets"] } }),
        );
      } else {
        await audited(
          c,
          "alias.create",
          "project",
          projectId,
          () => createAlias(c.env, projectId, input),
          (a) => ({ details: { alias_id: a.id, name: a.name } }),
        );
      }
      return c.redirect(back(projectId, "alias_saved"), 303);
    } catch (err) {
      return page(c, projectId, { values: form, error: { form: "alias", text: errorText(err) } }, 400);
    }
  })
  .post("/aliases/:id/delete", async (c) => {
    const alias = await requireAlias(c.env, readParam(c, "id", Uuid));
    await audited(c, "alias.delete", "alias", alias.id, () => removeAlias(c.env, alias.id));
    return c.redirect(back(alias.projectId, "alias_deleted"), 303);
  });
