import type { Command } from "commander";
import { ManagementClient } from "./client";
import { type GlobalOptions, resolveConnection } from "./config";

export type Ctx = { client: ManagementClient; json: boolean };

/** The management client and output mode of a command, from the global flags. */
export function context(cmd: Command): Ctx {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return { client: new ManagementClient(resolveConnection(opts)), json: Boolean(opts.json) };
}

/** Wraps an action so it receives the context first; commander passes (args..., options, command). */
export function action<A extends unknown[]>(
  fn: (ctx: Ctx, ...args: A) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args.at(-1) as Command;
    await fn(context(cmd), ...(args.slice(0, -1) as A));
  };
}
