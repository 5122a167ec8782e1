// Changing an existing token from the admin pages: edit its fields, switch it on or off, rotate its secret,
// revoke it. Mounted by tokens.tsx after its own routes, so the order of registration is unchanged.
import { Hono } from "hono";
import { Uuid } from "../../lib/schemas";
import { parseWith, readParam } from "../../lib/validate";
import { requireProject } from "../../projects/service";
import { toToken } from "../../tokens/response";
import { MAX_GRACE_SECONDS, TokenPatch } from "../../tokens/schema";
import { patchToken, requireToken, revokeToken, rotateToken } from "../../tokens/service";
import type { AdminEnv } from "../context";
import { audited, changedOnly, errorText, fieldErrors, readForm, saveChanges, setActive } from "../forms";
import { sealNewSecret } from "../once";
import { tokenPatchInput, tokenValues } from "../token-form";
import { ConfirmPage } from "../views/common";
import { TokenEditForm } from "../views/token-form";

export const tokenChangeRoutes = new Hono<AdminEnv>()
  .get("/:id/edit", async (c) => {
    const token = toToken(await requireToken(c.env, readParam(c, "id", Uuid)));
    const project = await requireProject(c.env, token.project_id);
    return c.html(
      <TokenEditForm
        csrf={c.get("session").csrf}
        token={token}
        projectName={project.name}
        values={tokenValues(token)}
      />,
    );
  })
  .post("/:id", async (c) => {
    const row = await requireToken(c.env, readParam(c, "id", Uuid));
    const form = await readForm(c);
    try {
      const parsed = parseWith(TokenPatch, tokenPatchInput(form), "form");
      return await saveChanges(c, "token", row.id, changedOnly(parsed, toToken(row)), (patch) =>
        patchToken(c.env, row.id, patch),
      );
    } catch (err) {
      const project = await requireProject(c.env, row.projectId);
      return c.html(
        <TokenEditForm
          csrf={c.get("session").csrf}
          token={toToken(row)}
          projectName={project.name}
          values={form}
          errors={fieldErrors(err)}
          error={errorText(err)}
        />,
        400,
      );
    }
  })
  .post("/:id/active", (c) => {
    const id = readParam(c, "id", Uuid);
    return setActive(c, "token", id, (patch) => patchToken(c.env, id, patch));
  })
  .get("/:id/rotate", async (c) => {
    const token = await requireToken(c.env, readParam(c, "id", Uuid));
    const label = token.name ? `“${token.name}” (${token.tokenHint})` : token.tokenHint;
    return c.html(
      <ConfirmPage
        title="Rotate this token's secret?"
        action={`/admin/tokens/${token.id}/rotate`}
        confirmLabel="Rotate secret"
        cancelHref={`/admin/tokens/${token.id}`}
        csrf={c.get("session").csrf}
        nav="tokens"
        fields={
          <label>
            The old secret keeps working for{" "}
            <select name="grace_seconds">
              <option value="0">no time (stops now)</option>
              <option value="900">15 minutes</option>
              <option value="3600" selected>
                1 hour
              </option>
              <option value="86400">1 day</option>
              <option value={String(MAX_GRACE_SECONDS)}>7 days</option>
            </select>
          </label>
        }
      >
        Token {label} gets a new secret, shown once. Its limits and counters stay as they are.
      </ConfirmPage>,
    );
  })
  .post("/:id/rotate", async (c) => {
    const id = readParam(c, "id", Uuid);
    const form = await readForm(c);
    const grace = Math.min(MAX_GRACE_SECONDS, Math.max(0, Number(form.grace_seconds) || 0));
    const { secret } = await audited(
      c,
      "token.rotate",
      "token",
      id,
      () => rotateToken(c.env, id, grace),
      () => ({ details: { grace_seconds: grace } }),
    );
    // POST → redirect → GET, as for a new token: a reload never rotates again.
    await sealNewSecret(c, c.get("session"), id, secret);
    return c.redirect(`/admin/tokens/${id}/created?rotated=1`, 303);
  })
  .get("/:id/revoke", async (c) => {
    const token = await requireToken(c.env, readParam(c, "id", Uuid));
    const project = await requireProject(c.env, token.projectId);
    const label = token.name ? `“${token.name}” (${token.tokenHint})` : token.tokenHint;
    return c.html(
      <ConfirmPage
        title="Revoke this token?"
        action={`/admin/tokens/${token.id}/revoke`}
        confirmLabel="Revoke token"
        cancelHref={`/admin/tokens/${token.id}`}
        csrf={c.get("session").csrf}
        nav="tokens"
      >
        Token {label} of project “{project.name}” will be refused from its next request on. A revoked token
        cannot be reactivated.
      </ConfirmPage>,
    );
  })
  .post("/:id/revoke", async (c) => {
    const id = readParam(c, "id", Uuid);
    await audited(c, "token.revoke", "token", id, () => revokeToken(c.env, id));
    return c.redirect(`/admin/tokens/${id}?msg=token_revoked`, 303);
  });
