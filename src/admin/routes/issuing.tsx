import { type Context, Hono } from "hono";
import { IdentityProviderCreate } from "../../issuing/identity/schema";
import {
  createProvider,
  listProviders,
  listUsers,
  patchProvider,
  patchUser,
} from "../../issuing/identity/service";
import { IssuingKeyCreate, toIssuingKey } from "../../issuing/keys/schema";
import { createIssuingKey, listIssuingKeys, revokeIssuingKey } from "../../issuing/keys/service";
import { Uuid } from "../../lib/schemas";
import { parseWith, readParam } from "../../lib/validate";
import { ProjectId } from "../../projects/schema";
import { requireProject } from "../../projects/service";
import type { Project } from "../../storage/schema";
import type { AdminEnv } from "../context";
import { audited, errorText, type Form, fieldErrors, list, num, readForm, text } from "../forms";
import { ProjectIssuing } from "../views/issuing";

/** A project's issuing page: issuing keys, identity providers, end users (see docs/issuing.md). */

async function page(c: Context<AdminEnv>, project: Project, extra = {}) {
  const [keys, providers, users] = await Promise.all([
    listIssuingKeys(c.env, { projectId: project.id, limit: 200 }),
    listProviders(c.env, { projectId: project.id, limit: 100 }),
    listUsers(c.env, { projectId: project.id, limit: 200 }),
  ]);
  return (
    <ProjectIssuing
      csrf={c.get("session").csrf}
      project={project}
      keys={keys.map(toIssuingKey)}
      providers={providers}
      users={users}
      {...extra}
    />
  );
}

function keyInput(projectId: string, f: Form) {
  const ceilings: Record<string, unknown> = {};
  const set = (k: string, v: unknown) => {
    if (v !== undefined) ceilings[k] = v;
  };
  set("max_duration_minutes", num(f, "ceil_duration"));
  set("max_cost_usd", num(f, "ceil_cost"));
  set("max_requests", num(f, "ceil_requests"));
  const day = num(f, "ceil_day_cost");
  if (day !== undefined) ceilings.period_budgets = [{ period: "day", max_cost_usd: day }];
  set("allowed_models", list(f, "ceil_models"));
  if (f.ceil_minting === "true") ceilings.allow_minting = true;
  return { project_id: projectId, name: text(f, "key_name") ?? "", ceilings };
}

function providerInput(projectId: string, f: Form) {
  const limits: Record<string, unknown> = {};
  const day = num(f, "user_day_cost");
  const rpm = num(f, "user_rpm");
  const tpm = num(f, "user_tpm");
  if (day !== undefined) limits.period_budgets = [{ period: "day", max_cost_usd: day }];
  if (rpm !== undefined) limits.rate_limit = { requests: rpm, window_seconds: 60 };
  if (tpm !== undefined) limits.token_rate_limit = { tokens: tpm, window_seconds: 60 };
  return {
    project_id: projectId,
    name: text(f, "idp_name") ?? "",
    issuer: text(f, "issuer") ?? "",
    audience: text(f, "audience") ?? "",
    jwks_url: text(f, "jwks_url"),
    hs256_secret: text(f, "hs256_secret"),
    allow_direct: f.allow_direct === "true",
    user_limits: Object.keys(limits).length ? limits : undefined,
  };
}

export const issuingRoutes = new Hono<AdminEnv>()
  .get("/:id/issuing", async (c) =>
    c.html(await page(c, await requireProject(c.env, readParam(c, "id", ProjectId)))),
  )
  .post("/:id/issuing/keys", async (c) => {
    const project = await requireProject(c.env, readParam(c, "id", ProjectId));
    const form = await readForm(c);
    try {
      const input = parseWith(IssuingKeyCreate, keyInput(project.id, form), "form");
      const { key, secret } = await audited(
        c,
        "issuing_key.create",
        "issuing_key",
        null,
        () => createIssuingKey(c.env, input),
        (r) => ({ targetId: r.key.id, details: { project_id: project.id, name: r.key.name } }),
      );
      return c.html(await page(c, project, { created: { kind: "key", secret, name: key.name } }), 201);
    } catch (err) {
      return c.html(
        await page(c, project, { values: form, errors: fieldErrors(err), error: errorText(err) }),
        400,
      );
    }
  })
  .post("/:id/issuing/keys/:key/revoke", async (c) => {
    const projectId = readParam(c, "id", ProjectId);
    const keyId = readParam(c, "key", Uuid);
    await audited(c, "issuing_key.revoke", "issuing_key", keyId, () => revokeIssuingKey(c.env, keyId));
    return c.redirect(`/admin/projects/${projectId}/issuing`, 303);
  })
  .post("/:id/issuing/providers", async (c) => {
    const project = await requireProject(c.env, readParam(c, "id", ProjectId));
    const form = await readForm(c);
    try {
      const input = parseWith(IdentityProviderCreate, providerInput(project.id, form), "form");
      await audited(
        c,
        "identity_provider.create",
        "identity_provider",
        null,
        () => createProvider(c.env, input),
        (p) => ({ targetId: p.id, details: { project_id: project.id, issuer: p.issuer } }),
      );
      return c.redirect(`/admin/projects/${project.id}/issuing`, 303);
    } catch (err) {
      const values = { ...form, hs256_secret: "" };
      return c.html(await page(c, project, { values, errors: fieldErrors(err), error: errorText(err) }), 400);
    }
  })
  .post("/:id/issuing/providers/:provider/active", async (c) => {
    const projectId = readParam(c, "id", ProjectId);
    const id = readParam(c, "provider", Uuid);
    const active = (await readForm(c)).active === "true";
    await audited(c, "identity_provider.update", "identity_provider", id, () =>
      patchProvider(c.env, id, { is_active: active }),
    );
    return c.redirect(`/admin/projects/${projectId}/issuing`, 303);
  })
  .post("/:id/issuing/users/:user/active", async (c) => {
    const projectId = readParam(c, "id", ProjectId);
    const id = readParam(c, "user", Uuid);
    const active = (await readForm(c)).active === "true";
    await audited(c, "user.update", "user", id, () => patchUser(c.env, id, { is_active: active }));
    return c.redirect(`/admin/projects/${projectId}/issuing`, 303);
  });
