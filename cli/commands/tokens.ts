import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { listAll } from "../client";
import { action } from "../context";
import { usageError } from "../errors";
import { type Column, note, print, printJson, renderRecord, renderTable } from "../output";
import { positiveInt, seconds, UUID_RE } from "../parse";
import { addLimitFlags, type LimitFlags, limits } from "./limit-flags";
import { resolveProjectId } from "./projects";
import { batchCommand } from "./token-batch";

export type Token = {
  id: string;
  token_hint: string;
  project_id: string;
  name: string | null;
  status: string;
  expires_at: string;
  request_count: number;
  max_requests: number | null;
  remaining_requests: number | null;
  last_used_at: string | null;
  [k: string]: unknown;
};

const columns: Column<Token>[] = [
  { header: "id", value: (t) => t.id },
  { header: "hint", value: (t) => t.token_hint },
  { header: "name", value: (t) => t.name },
  { header: "status", value: (t) => t.status },
  { header: "expires", value: (t) => t.expires_at },
  {
    header: "requests",
    value: (t) => (t.max_requests ? `${t.request_count}/${t.max_requests}` : t.request_count),
    align: "right",
  },
  { header: "last used", value: (t) => t.last_used_at },
];

function show(json: boolean, t: Token): void {
  if (json) printJson(t);
  else print(renderRecord(t));
}

function tokenId(ref: string): string {
  if (!UUID_RE.test(ref)) {
    throw usageError(
      `'${ref}' is not a token id (a UUID).`,
      ref.startsWith("wt_") ? "To revoke by secret use `llm-proxy token revoke --value -`." : undefined,
    );
  }
  return ref;
}

export function tokenCommand(): Command {
  const cmd = new Command("token").description("manage withering tokens");

  addLimitFlags(
    cmd
      .command("create")
      .description("create a token; its secret is printed once")
      .requiredOption("--project <project>", "project id or name")
      .option(
        "-q, --quiet",
        "print only the token secret (for scripts: TOKEN=$(llm-proxy token create … -q))",
      ),
  ).action(
    action(async ({ client, json }, o: LimitFlags & { project: string; quiet?: boolean }) => {
      const projectId = await resolveProjectId(client, o.project);
      const t = await client.post<Token & { token: string }>("/manage/tokens", {
        project_id: projectId,
        ...limits(o),
      });
      if (json) return printJson(t);
      if (o.quiet) return print(t.token);
      const { token, ...rest } = t;
      print(renderRecord(rest));
      print(`\ntoken: ${token}`);
      note("Store the token now: it is shown only once.");
    }),
  );

  cmd
    .command("list")
    .description("list tokens, newest first")
    .option("--project <project>", "only this project's (id or name)")
    .addOption(
      new Option("--status <status>", "only tokens in this state").choices([
        "active",
        "expired",
        "revoked",
        "inactive",
      ]),
    )
    .option("--search <text>", "name or hint contains")
    .option("--limit <n>", "at most this many", positiveInt, 200)
    .action(
      action(
        async (
          { client, json },
          o: { project?: string; status?: string; search?: string; limit: number },
        ) => {
          const projectId = o.project ? await resolveProjectId(client, o.project) : undefined;
          const rows = await listAll<Token>(
            client,
            "/manage/tokens",
            { project_id: projectId, status: o.status, search: o.search },
            o.limit,
          );
          if (json) printJson(rows);
          else if (rows.length === 0) note("No tokens match.");
          else print(renderTable(rows, columns));
        },
      ),
    );

  cmd
    .command("get <id>")
    .description("show a token with its live counters")
    .action(
      action(async ({ client, json }, ref: string) => {
        show(json, await client.get<Token>(`/manage/tokens/${tokenId(ref)}`));
      }),
    );

  addLimitFlags(cmd.command("update <id>").description("change a token's limits, expiry or state"))
    .addOption(new Option("--activate", "reactivate").conflicts("deactivate"))
    .option("--deactivate", "deactivate (reversible; revoke is final)")
    .action(
      action(
        async (
          { client, json },
          ref: string,
          o: LimitFlags & { activate?: boolean; deactivate?: boolean },
        ) => {
          const patch = limits(o);
          if (o.activate) patch.is_active = true;
          if (o.deactivate) patch.is_active = false;
          if (Object.keys(patch).length === 0)
            throw usageError("Nothing to change: give at least one option.");
          show(json, await client.patch<Token>(`/manage/tokens/${tokenId(ref)}`, patch));
        },
      ),
    );

  cmd
    .command("rotate <id>")
    .description("give a token a new secret (printed once); the old one keeps working for --grace")
    .option(
      "--grace <duration>",
      "how long the old secret still works: 0, 90s, 15m, 1h, 2d (default 1h)",
      seconds,
    )
    .option("-q, --quiet", "print only the new secret")
    .action(
      action(async ({ client, json }, ref: string, o: { grace?: number; quiet?: boolean }) => {
        const t = await client.post<Token & { token: string; previous_secret_valid_until: string | null }>(
          `/manage/tokens/${tokenId(ref)}/rotate`,
          o.grace === undefined ? {} : { grace_seconds: o.grace },
        );
        if (json) return printJson(t);
        if (o.quiet) return print(t.token);
        print(`token: ${t.token}`);
        note(
          `Store the new secret now: it is shown only once. The old one works until ${t.previous_secret_valid_until}.`,
        );
      }),
    );

  cmd.addCommand(batchCommand());

  cmd
    .command("revoke [id]")
    .description("revoke a token by id, or by its secret with --value")
    .option("--value <secret>", "the token secret ('-' reads it from stdin)")
    .action(
      action(async ({ client, json }, ref: string | undefined, o: { value?: string }) => {
        if (ref && o.value) throw usageError("Give a token id or --value, not both.");
        if (!ref && !o.value) throw usageError("Give a token id, or --value <secret>.");
        if (ref) {
          await client.delete(`/manage/tokens/${tokenId(ref)}`);
          if (json) printJson({ revoked: ref });
          else note(`Revoked token ${ref}.`);
          return;
        }
        const secret = o.value === "-" ? readFileSync(0, "utf8").trim() : o.value!;
        await client.delete("/manage/tokens", { token: secret });
        if (json) printJson({ revoked: true });
        else note("Revoked the token.");
      }),
    );

  return cmd;
}
