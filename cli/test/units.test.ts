import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { latencyChartSvg } from "../benchmark/chart";
import { endpointUrl, requestBody } from "../benchmark/run";
import { devVarsToken, isLocal, resolveConnection } from "../config";
import { CliError } from "../errors";
import { cell } from "../output";
import { durationMs, rateWindow, timeArg } from "../parse";

describe("argument parsers", () => {
  it("rate windows", () => {
    expect(rateWindow("100/60")).toEqual([{ requests: 100, window_seconds: 60 }]);
    expect(rateWindow("10/1m", rateWindow("1000/1d"))).toEqual([
      { requests: 1000, window_seconds: 86_400 },
      { requests: 10, window_seconds: 60 },
    ]);
    expect(() => rateWindow("ten per minute")).toThrow(InvalidArgumentError);
  });

  it("times: ISO, dates and ages", () => {
    const now = Date.parse("2026-11-22T12:00:00Z");
    expect(timeArg("24h", now)).toBe("2026-11-21T12:00:00.000Z");
    expect(timeArg("2026-11-01")).toBe("2026-11-01T00:00:00.000Z");
    expect(timeArg("2026-11-01T10:00:00+01:00")).toBe("2026-11-01T09:00:00.000Z");
    expect(() => timeArg("yesterday")).toThrow(InvalidArgumentError);
  });

  it("durations", () => {
    expect(durationMs("500ms")).toBe(500);
    expect(durationMs("2s")).toBe(2000);
    expect(durationMs("3")).toBe(3000);
    expect(() => durationMs("soon")).toThrow(InvalidArgumentError);
  });
});

describe("connection settings", () => {
  it("flags win over the environment; /v1 in the URL is refused", () => {
    const env = { LLM_PROXY_URL: "https://gw.example", LLM_PROXY_MANAGEMENT_TOKEN: "from-env" };
    const conn = resolveConnection({ config: undefined }, env);
    expect(conn).toMatchObject({ url: "https://gw.example", token: "from-env" });
    expect(resolveConnection({ url: "https://other.example/", managementToken: "flag" }, env)).toMatchObject({
      url: "https://other.example",
      token: "flag",
      tokenSource: "--management-token",
    });
    expect(() => resolveConnection({ url: "https://gw.example/v1" }, {})).toThrow(CliError);
    expect(() => resolveConnection({ url: "ftp://gw.example" }, {})).toThrow(CliError);
  });

  it("only localhost URLs read .dev.vars", () => {
    expect(isLocal("http://localhost:8787")).toBe(true);
    expect(isLocal("http://127.0.0.1:1234")).toBe(true);
    expect(isLocal("https://gw.example")).toBe(false);
    expect(devVarsToken("/nonexistent")).toBeUndefined();
  });
});

describe("benchmark helpers", () => {
  it("joins base URLs and endpoints without doubling /v1", () => {
    expect(endpointUrl("http://gw", "/v1/chat/completions")).toBe("http://gw/v1/chat/completions");
    expect(endpointUrl("http://gw/v1/", "/v1/chat/completions")).toBe("http://gw/v1/chat/completions");
    expect(endpointUrl("http://gw/v1", "/health")).toBe("http://gw/v1/health");
  });

  it("builds the body from the template, model and stream flags", () => {
    expect(
      JSON.parse(requestBody('{"model":"a","input":"x"}', { model: "b", stream: true, method: "POST" })!),
    ).toEqual({
      model: "b",
      input: "x",
      stream: true,
    });
    expect(requestBody(undefined, { stream: false, method: "GET" })).toBeUndefined();
    expect(() => requestBody("[1]", { stream: false, method: "POST" })).toThrow(CliError);
  });

  it("draws one escaped, labelled curve per series", () => {
    const svg = latencyChartSvg(
      [
        { label: "gateway <a&b>", samples: [10, 12, 15, 40] },
        { label: "direct", samples: [5, 6, 7, 9] },
      ],
      "title",
    );
    expect(svg).toMatch(/^<svg[^>]+viewBox/);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain("gateway &lt;a&amp;b&gt; (n=4, max 40.0 ms)");
  });
});

describe("table cells", () => {
  it("shows nulls, booleans, dates and numbers readably", () => {
    expect(cell(null)).toBe("-");
    expect(cell(true)).toBe("yes");
    expect(cell("2026-11-22T10:00:00.123Z")).toBe("2026-11-22 10:00:00Z");
    expect(cell(0.1 + 0.2)).toBe("0.3");
    expect(cell({ a: 1 })).toBe('{"a":1}');
  });

  it("never passes terminal control sequences through (event fields are client-controlled)", () => {
    expect(cell("gpt-4o\u001b]0;pwned\u0007\u001b[2J")).toBe("gpt-4o\\x1b]0;pwned\\x07\\x1b[2J");
    expect(cell("a\u009bb\u202ec\nd")).toBe("a\\x9bb\\u202ec\\x0ad");
    expect(cell({ ua: "x\u001b[31m" })).not.toContain("\u001b");
  });
});

describe("docs", () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const files = ["README.md", ...readdirSync(join(root, "docs")).map((f) => `docs/${f}`)].filter((f) =>
    f.endsWith(".md"),
  );

  it("relative links point at files that exist", () => {
    const broken: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(root, file), "utf8");
      for (const [, target] of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/i.test(target!)) continue;
        if (!existsSync(join(root, dirname(file), target!))) broken.push(`${file} → ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
