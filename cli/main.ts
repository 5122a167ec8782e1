import { Command, CommanderError } from "commander";
import { auditCommand } from "./commands/audit";
import { benchmarkCommand } from "./commands/benchmark";
import { eventsCommand } from "./commands/events";
import { childrenCommand, identityCommand, issuingKeyCommand, userCommand } from "./commands/issuing";
import { projectCommand } from "./commands/projects";
import { metricsCommand, statusCommand } from "./commands/status";
import { tokenCommand } from "./commands/tokens";
import { aliasCommand, upstreamCommand } from "./commands/upstreams";
import { usageCommand } from "./commands/usage";
import { DEFAULT_URL } from "./config";
import { CliError, EXIT } from "./errors";

declare const CLI_VERSION: string;

function program(): Command {
  const root = new Command("llm-proxy")
    .description("Operate an llm-proxy gateway: projects, withering tokens, usage, events, benchmarks.")
    .version(typeof CLI_VERSION === "string" ? CLI_VERSION : "dev")
    .option("--url <url>", `gateway origin (env LLM_PROXY_URL, default ${DEFAULT_URL})`)
    .option(
      "--management-token <token>",
      "management token (env LLM_PROXY_MANAGEMENT_TOKEN; for localhost also ./.dev.vars)",
    )
    .option("--config <path>", "config file (default ~/.config/llm-proxy/config.json)")
    .option("--json", "machine-readable JSON output")
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      `
Exit codes: 0 ok · 1 the gateway refused the request (4xx) · 2 usage error · 3 gateway unreachable or 5xx

Examples:
  llm-proxy project create --name demo --api-key - < openai-key.txt
  llm-proxy upstream add --project demo --name groq --preset groq --api-key - < groq-key.txt
  llm-proxy alias set --project demo smart groq:llama-3.3-70b-versatile default:gpt-4o
  llm-proxy token create --project demo --duration 60 --max-requests 100
  llm-proxy token list --project demo --status active --json
  llm-proxy token create --project demo --period-budget day:cost=5 --time-zone Europe/Berlin
  llm-proxy token batch --project demo --count 30 --prefix student --max-cost 1 --out class.csv
  llm-proxy token rotate <id> --grace 1h
  llm-proxy issuing-key create --project demo --name backend --max-duration 1440 --max-cost 5
  llm-proxy usage --from 7d --group-by day
  llm-proxy events tail --follow
  llm-proxy benchmark --target http://localhost:8787 --token wt_... -n 200 -c 10`,
    );
  for (const cmd of [
    projectCommand(),
    upstreamCommand(),
    aliasCommand(),
    tokenCommand(),
    issuingKeyCommand(),
    identityCommand(),
    userCommand(),
    childrenCommand(),
    usageCommand(),
    eventsCommand(),
    auditCommand(),
    benchmarkCommand(),
    statusCommand(),
    metricsCommand(),
  ]) {
    root.addCommand(cmd);
  }
  // Every command reports usage errors with exit code 2, never commander's default 1.
  const configure = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(configure);
  };
  configure(root);
  return root;
}

function fail(err: CliError, json: boolean): never {
  if (json && err.body) process.stdout.write(`${JSON.stringify(err.body, null, 2)}\n`);
  process.stderr.write(`error: ${err.message}\n`);
  if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
  process.exit(err.exitCode);
}

export async function main(argv = process.argv): Promise<void> {
  const json = argv.includes("--json");
  try {
    await program().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; everything else commander rejects is a usage error.
      process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
    }
    if (err instanceof CliError) fail(err, json);
    process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(EXIT.unreachable);
  }
}

void main();
