import { readFileSync, writeFileSync } from "node:fs";
import { SingleBar } from "cli-progress";
import { Command, Option } from "commander";
import { action } from "../context";
import { CliError, usageError } from "../errors";
import { note, print } from "../output";
import { positiveInt } from "../parse";
import { addLimitFlags, limits } from "./limit-flags";
import { resolveProjectId } from "./projects";

/** Tokens per API call: small enough for a progress bar to move, large enough to be quick. */
const CHUNK = 100;
const MAX = 100_000;

type Created = { id: string; name: string | null; token: string; expires_at: string; project_id: string };

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

export function toCsv(rows: Created[]): string {
  const head = ["id", "name", "token", "expires_at", "project_id"];
  const lines = rows.map((r) => [r.id, r.name, r.token, r.expires_at, r.project_id].map(csvCell).join(","));
  return `${[head.join(","), ...lines].join("\n")}\n`;
}

/** Names from a file: one per line, or the first column of a CSV (a header named "name" is skipped). */
function namesFrom(file: string): string[] {
  const lines = readFileSync(file === "-" ? 0 : file, "utf8")
    .split(/\r?\n/)
    .map(
      (l) =>
        l
          .split(",")[0]
          ?.trim()
          .replace(/^"(.*)"$/, "$1") ?? "",
    )
    .filter(Boolean);
  return lines[0]?.toLowerCase() === "name" ? lines.slice(1) : lines;
}

type Options = {
  project: string;
  count?: number;
  namesFile?: string;
  prefix?: string;
  format: "csv" | "json";
  out?: string;
  progress: boolean;
};

export function batchCommand(): Command {
  return addLimitFlags(
    new Command("batch")
      .description("create many tokens at once (secrets printed once, as CSV or JSON)")
      .requiredOption("--project <project>", "project id or name")
      .option("--count <n>", `how many tokens (at most ${MAX})`, positiveInt)
      .option(
        "--names-file <file>",
        "one token per name: a file with a name per line, or a CSV ('-' = stdin)",
      )
      .option("--prefix <prefix>", "name tokens <prefix>-1, <prefix>-2, …")
      .addOption(new Option("--format <format>", "output format").choices(["csv", "json"]).default("csv"))
      .option("--out <file>", "write the secrets to this file (created with mode 600) instead of stdout")
      .option("--no-progress", "no progress bar"),
  ).action(
    action(async ({ client, json }, o: Options & Parameters<typeof limits>[0]) => {
      if (o.name) throw usageError("Use --prefix (or --names-file) to name the tokens of a batch.");
      const names = o.namesFile ? namesFrom(o.namesFile) : undefined;
      const count = names?.length ?? o.count;
      if (!count) throw usageError("Give --count or --names-file.");
      if (names && o.count !== undefined && o.count !== names.length) {
        throw usageError(`--count ${o.count} does not match the ${names.length} names of --names-file.`);
      }
      if (count > MAX) throw usageError(`At most ${MAX} tokens per batch.`);
      const projectId = await resolveProjectId(client, o.project);
      const template = limits(o);
      const bar =
        o.progress && process.stderr.isTTY
          ? new SingleBar({
              stream: process.stderr,
              format: "{bar} {value}/{total} tokens | {percentage}% | {duration_formatted}",
              hideCursor: true,
              clearOnComplete: true,
            })
          : null;
      bar?.start(count, 0);
      const created: Created[] = [];
      let failure: unknown;
      try {
        for (let i = 0; i < count; i += CHUNK) {
          const n = Math.min(CHUNK, count - i);
          const chunkNames =
            names?.slice(i, i + n) ??
            (o.prefix ? Array.from({ length: n }, (_, k) => `${o.prefix}-${i + k + 1}`) : undefined);
          const res = await client.post<{ data: Created[] }>("/manage/tokens/batch", {
            ...template,
            project_id: projectId,
            ...(chunkNames ? { names: chunkNames } : { count: n }),
          });
          created.push(...res.data);
          bar?.update(created.length);
        }
      } catch (err) {
        failure = err;
      } finally {
        bar?.stop();
      }
      // What was created is written even when a later call failed: those secrets exist now.
      if (created.length > 0) {
        const text = json || o.format === "json" ? `${JSON.stringify(created, null, 2)}\n` : toCsv(created);
        if (o.out) {
          writeFileSync(o.out, text, { mode: 0o600 });
          note(
            `Wrote ${created.length} tokens to ${o.out}. The secrets are shown only once: keep the file safe.`,
          );
        } else {
          print(text.trimEnd());
          note(`Created ${created.length} tokens. The secrets are shown only once: store them now.`);
        }
      }
      if (failure) {
        if (failure instanceof CliError && created.length > 0) {
          throw new CliError(
            `${failure.message}\n(${created.length} of ${count} tokens were created before this and are listed above.)`,
            failure.exitCode,
            failure.hint,
          );
        }
        throw failure;
      }
    }),
  );
}
