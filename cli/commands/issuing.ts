import { readFileSync } from "node:fs";
import { Command } from "commander";
import { listAll, ManagementClient } from "../client";
import { action } from "../context";
import { usageError } from "../errors";
import { autoColumns, type Column, note, print, printJson, renderRecord, renderTable } from "../output";
import {
  jsonObject,
  list,
  type PeriodBudgetArg,
  periodBudget,
  positiveInt,
  positiveNumber,
  UUID_RE,
} from "../parse";
import { resolveProjectId } from "./projects";
import { toCsv } from "./token-batch";

/** Issuing keys, identity providers, end users, and child tokens (the token holders' API). */

type Row = Record<string, unknown>;

const readSecret = (value: string) => (value === "-" ? readFileSync(0, "utf8").trim() : value);

function uuid(ref: string, what: string): string {
  if (!UUID_RE.test(ref)) throw usageError(`'${ref}' is not ${what} id (a UUID).`);
  return ref;
}

function show(json: boolean, row: Row): void {
  if (json) printJson(row);
  else print(renderRecord(row));
}

function table(json: boolean, rows: Row[], columns?: Column<Row>[]): void {
  if (json) printJson(rows);
  else if (rows.length === 0) note("Nothing to show.");
  else print(renderTable(rows, columns ?? autoColumns(rows)));
}

type CeilingFlags = {
  maxDuration?: number;
  maxRequests?: number;
  maxTokens?: number;
  maxCost?: number;
  models?: string[];
  periodBudget?: PeriodBudgetArg[];
  allowMinting?: boolean;
};

export function issuingKeyCommand(): Command {
  const cmd = new Command("issuing-key").description(
    "keys an app's backend uses to create, list and revoke one project's tokens, within ceilings",
  );
  cmd
    .command("create")
    .description("create an issuing key; it is printed once")
    .requiredOption("--project <project>", "project id or name")
    .requiredOption("--name <name>", "who holds it, e.g. 'web backend'")
    .option("--max-duration <minutes>", "longest token it may create", positiveInt)
    .option("--max-requests <n>", "largest max_requests", positiveInt)
    .option("--max-tokens <n>", "largest token budget", positiveInt)
    .option("--max-cost <usd>", "largest cost budget", positiveNumber)
    .option("--models <list>", "models its tokens may use (within the project's)", list)
    .option(
      "--period-budget <period:limits>",
      "largest budget per period, e.g. day:cost=1 (repeatable)",
      periodBudget,
    )
    .option("--allow-minting", "its tokens may mint children")
    .option("-q, --quiet", "print only the key")
    .action(
      action(
        async ({ client, json }, o: CeilingFlags & { project: string; name: string; quiet?: boolean }) => {
          const ceilings: Row = {};
          if (o.maxDuration !== undefined) ceilings.max_duration_minutes = o.maxDuration;
          if (o.maxRequests !== undefined) ceilings.max_requests = o.maxRequests;
          if (o.maxTokens !== undefined) ceilings.max_tokens = o.maxTokens;
          if (o.maxCost !== undefined) ceilings.max_cost_usd = o.maxCost;
          if (o.models !== undefined) ceilings.allowed_models = o.models;
          if (o.periodBudget !== undefined) ceilings.period_budgets = o.periodBudget;
          if (o.allowMinting) ceilings.allow_minting = true;
          const k = await client.post<Row & { key: string }>("/manage/issuing-keys", {
            project_id: await resolveProjectId(client, o.project),
            name: o.name,
            ceilings,
          });
          if (json) return printJson(k);
          if (o.quiet) return print(k.key);
          const { key, ...rest } = k;
          print(renderRecord(rest));
          print(`\nkey: ${key}`);
          note("Store the key now: it is shown only once.");
        },
      ),
    );
  cmd
    .command("list")
    .description("list issuing keys")
    .option("--project <project>", "only this project's")
    .action(
      action(async ({ client, json }, o: { project?: string }) => {
        const projectId = o.project ? await resolveProjectId(client, o.project) : undefined;
        const rows = await listAll<Row>(client, "/manage/issuing-keys", { project_id: projectId }, 10_000);
        table(json, rows, [
          { header: "id", value: (k) => k.id },
          { header: "name", value: (k) => k.name },
          { header: "hint", value: (k) => k.key_hint },
          { header: "status", value: (k) => k.status },
          { header: "ceilings", value: (k) => k.ceilings },
          { header: "last used", value: (k) => k.last_used_at },
        ]);
      }),
    );
  cmd
    .command("revoke <id>")
    .description("revoke an issuing key (tokens it created stay valid)")
    .action(
      action(async ({ client, json }, ref: string) => {
        await client.delete(`/manage/issuing-keys/${uuid(ref, "an issuing key")}`);
        if (json) printJson({ revoked: ref });
        else note(`Revoked issuing key ${ref}.`);
      }),
    );
  return cmd;
}

export function identityCommand(): Command {
  const cmd = new Command("idp").description("identity providers whose users' JWTs a project trusts");
  cmd
    .command("create")
    .description("trust an identity provider (a JWKS URL, or a shared HS256 secret)")
    .requiredOption("--project <project>", "project id or name")
    .requiredOption("--name <name>", "e.g. 'Firebase'")
    .requiredOption("--issuer <iss>", "the JWTs' iss claim, exactly")
    .requiredOption("--audience <aud>", "the aud claim the JWTs must carry")
    .option("--jwks-url <url>", "where the provider publishes its keys")
    .option("--secret <secret>", "a shared HS256 secret ('-' reads it from stdin)")
    .option("--allow-direct", "accept the JWT itself as the API key on /v1")
    .option(
      "--user-limits <json>",
      'limits per end user, e.g. \'{"period_budgets":[{"period":"day","max_cost_usd":1}]}\'',
      jsonObject,
    )
    .option("--token-minutes <n>", "life of an exchanged token (default 60)", positiveInt)
    .option("--max-token-minutes <n>", "the longest an exchange may ask for (default 1440)", positiveInt)
    .action(
      action(
        async (
          { client, json },
          o: {
            project: string;
            name: string;
            issuer: string;
            audience: string;
            jwksUrl?: string;
            secret?: string;
            allowDirect?: boolean;
            userLimits?: Row;
            tokenMinutes?: number;
            maxTokenMinutes?: number;
          },
        ) => {
          if (!o.jwksUrl === !o.secret) throw usageError("Give --jwks-url or --secret (one of them).");
          const p = await client.post<Row>("/manage/identity-providers", {
            project_id: await resolveProjectId(client, o.project),
            name: o.name,
            issuer: o.issuer,
            audience: o.audience,
            ...(o.jwksUrl ? { jwks_url: o.jwksUrl } : { hs256_secret: readSecret(o.secret as string) }),
            ...(o.allowDirect ? { allow_direct: true } : {}),
            ...(o.userLimits ? { user_limits: o.userLimits } : {}),
            ...(o.tokenMinutes ? { token_duration_minutes: o.tokenMinutes } : {}),
            ...(o.maxTokenMinutes ? { max_token_duration_minutes: o.maxTokenMinutes } : {}),
          });
          show(json, p);
        },
      ),
    );
  cmd
    .command("list")
    .description("list identity providers")
    .option("--project <project>", "only this project's")
    .action(
      action(async ({ client, json }, o: { project?: string }) => {
        const projectId = o.project ? await resolveProjectId(client, o.project) : undefined;
        const rows = await listAll<Row>(
          client,
          "/manage/identity-providers",
          { project_id: projectId },
          10_000,
        );
        table(json, rows, [
          { header: "id", value: (p) => p.id },
          { header: "name", value: (p) => p.name },
          { header: "issuer", value: (p) => p.issuer },
          { header: "audience", value: (p) => p.audience },
          { header: "kind", value: (p) => p.kind },
          { header: "direct", value: (p) => p.allow_direct },
          { header: "active", value: (p) => p.is_active },
        ]);
      }),
    );
  cmd
    .command("update <id>")
    .description("change a provider with a JSON patch, e.g. '{\"allow_direct\": false}'")
    .argument("<patch>", "the fields to change, as JSON", jsonObject)
    .action(
      action(async ({ client, json }, ref: string, patch: Row) => {
        show(json, await client.patch<Row>(`/manage/identity-providers/${uuid(ref, "a provider")}`, patch));
      }),
    );
  cmd
    .command("delete <id>")
    .description("stop trusting a provider: its users, their tokens and JWTs stop at once")
    .option("--yes", "confirm")
    .action(
      action(async ({ client, json }, ref: string, o: { yes?: boolean }) => {
        if (!o.yes) throw usageError("Deleting a provider stops all its users: add --yes to confirm.");
        await client.delete(`/manage/identity-providers/${uuid(ref, "a provider")}`);
        if (json) printJson({ deleted: ref });
        else note(`Deleted identity provider ${ref}.`);
      }),
    );
  return cmd;
}

export function userCommand(): Command {
  const cmd = new Command("user").description(
    "end users of identity providers, with limits across all their tokens",
  );
  cmd
    .command("list")
    .description("list end users")
    .option("--project <project>", "only this project's")
    .option("--subject <sub>", "only this subject")
    .option("--limit <n>", "at most this many", positiveInt, 200)
    .action(
      action(async ({ client, json }, o: { project?: string; subject?: string; limit: number }) => {
        const projectId = o.project ? await resolveProjectId(client, o.project) : undefined;
        const rows = await listAll<Row>(
          client,
          "/manage/users",
          { project_id: projectId, subject: o.subject },
          o.limit,
        );
        table(json, rows, [
          { header: "id", value: (u) => u.id },
          { header: "subject", value: (u) => u.subject },
          { header: "active", value: (u) => u.is_active },
          { header: "requests", value: (u) => u.request_count, align: "right" },
          { header: "cost usd", value: (u) => u.cost_used_usd, align: "right" },
          { header: "last used", value: (u) => u.last_used_at },
        ]);
      }),
    );
  cmd
    .command("get <id>")
    .description("show an end user with live counters")
    .action(
      action(async ({ client, json }, ref: string) =>
        show(json, await client.get<Row>(`/manage/users/${uuid(ref, "a user")}`)),
      ),
    );
  for (const [name, active, what] of [
    ["revoke", false, "revoke a user: all their tokens and JWTs stop at once"],
    ["restore", true, "let a revoked user in again"],
  ] as const) {
    cmd
      .command(`${name} <id>`)
      .description(what)
      .action(
        action(async ({ client, json }, ref: string) => {
          show(json, await client.patch<Row>(`/manage/users/${uuid(ref, "a user")}`, { is_active: active }));
        }),
      );
  }
  return cmd;
}

/** A client for /issue authenticated by a withering token instead of the management token. */
function tokenClient(management: ManagementClient, secret: string): ManagementClient {
  return new ManagementClient({ ...management.conn, token: secret, tokenSource: "--token" });
}

export function childrenCommand(): Command {
  const cmd = new Command("children").description(
    "child tokens carved out of a parent token's budgets (authenticated by the parent token, not the management token)",
  );
  cmd
    .command("mint")
    .description("mint child tokens; their secrets are printed once (CSV, or JSON with --json)")
    .requiredOption("--token <secret>", "the parent token ('-' reads it from stdin); it needs can_mint")
    .option("--count <n>", "how many", positiveInt, 1)
    .option("--prefix <prefix>", "name them <prefix>-1, <prefix>-2, …")
    .option("--max-cost <usd>", "each child's budget in US dollars", positiveNumber)
    .option("--max-requests <n>", "each child's request budget", positiveInt)
    .option("--max-tokens <n>", "each child's token budget", positiveInt)
    .option("--duration <minutes>", "each child's life (default: as long as the parent)", positiveInt)
    .option("--models <list>", "models (within the parent's)", list)
    .action(
      action(
        async (
          { client, json },
          o: {
            token: string;
            count: number;
            prefix?: string;
            maxCost?: number;
            maxRequests?: number;
            maxTokens?: number;
            duration?: number;
            models?: string[];
          },
        ) => {
          const parent = tokenClient(client, readSecret(o.token));
          const body: Row = o.prefix
            ? { names: Array.from({ length: o.count }, (_, i) => `${o.prefix}-${i + 1}`) }
            : { count: o.count };
          if (o.maxCost !== undefined) body.max_cost_usd = o.maxCost;
          if (o.maxRequests !== undefined) body.max_requests = o.maxRequests;
          if (o.maxTokens !== undefined) body.max_tokens = o.maxTokens;
          if (o.duration !== undefined) body.duration_minutes = o.duration;
          if (o.models !== undefined) body.allowed_models = o.models;
          const res = await parent.post<{ data: Parameters<typeof toCsv>[0] }>("/issue/children", body);
          if (json) printJson(res.data);
          else print(toCsv(res.data).trimEnd());
          note(`Minted ${res.data.length} child tokens. Their secrets are shown only once: store them now.`);
        },
      ),
    );
  cmd
    .command("list")
    .description("the parent token's children")
    .requiredOption("--token <secret>", "the parent token ('-' reads it from stdin)")
    .action(
      action(async ({ client, json }, o: { token: string }) => {
        const rows = await listAll<Row>(
          tokenClient(client, readSecret(o.token)),
          "/issue/children",
          {},
          10_000,
        );
        table(json, rows, [
          { header: "id", value: (t) => t.id },
          { header: "name", value: (t) => t.name },
          { header: "status", value: (t) => t.status },
          { header: "cost usd", value: (t) => t.cost_used_usd, align: "right" },
          { header: "budget usd", value: (t) => t.max_cost_usd, align: "right" },
          { header: "expires", value: (t) => t.expires_at },
        ]);
      }),
    );
  cmd
    .command("revoke <id>")
    .description("revoke a child; its unused allowance returns to the parent")
    .requiredOption("--token <secret>", "the parent token ('-' reads it from stdin)")
    .action(
      action(async ({ client, json }, ref: string, o: { token: string }) => {
        await tokenClient(client, readSecret(o.token)).delete(`/issue/children/${uuid(ref, "a token")}`);
        if (json) printJson({ revoked: ref });
        else note(`Revoked child token ${ref}.`);
      }),
    );
  return cmd;
}
