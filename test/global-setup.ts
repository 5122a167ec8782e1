import type { TestProject } from "vitest/node";
import { startMockUpstream } from "./support/mock-upstream.ts";

declare module "vitest" {
  export interface ProvidedContext {
    mockUpstreamUrl: string;
  }
}

// One mock OpenAI upstream for the whole run (a real Node HTTP server); the worker tests reach it at the
// URL bound as MOCK_UPSTREAM_URL. Tests tag their requests (`x-mock-tag`) to find their own.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const mock = await startMockUpstream();
  project.provide("mockUpstreamUrl", mock.url);
  return () => mock.close();
}
