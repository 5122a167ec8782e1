import { describe, expect, it } from "vitest";

// The admin feature's imports run one way: routes (handlers) → views → admin-ui (shared UI pieces).
// Read as text at build time by Vite, so this holds for every file that exists, including new ones.
const views = import.meta.glob<string>("../src/admin/views/*.tsx", {
  query: "?raw",
  import: "default",
  eager: true,
});
const ui = import.meta.glob<string>("../admin-ui/**/*.{ts,tsx}", {
  query: "?raw",
  import: "default",
  eager: true,
});
const adminSrc = import.meta.glob<string>("../src/admin/**/*.{ts,tsx}", {
  query: "?raw",
  import: "default",
  eager: true,
});

type Import = { from: string; typeOnly: boolean; line: string };

function importsOf(source: string): Import[] {
  const out: Import[] = [];
  for (const m of source.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms)) {
    const names = /\{([^}]*)\}/.exec(m[0])?.[1];
    // `import { type A, type B }` is type-only too.
    const allTypes =
      names
        ?.split(",")
        .map((n) => n.trim())
        .filter(Boolean)
        .every((n) => n.startsWith("type ")) === true;
    out.push({ from: m[3]!, typeOnly: Boolean(m[2]) || allTypes, line: m[0].replace(/\s+/g, " ") });
  }
  return out;
}

describe("admin: one direction of imports", () => {
  it("finds the files it checks", () => {
    expect(Object.keys(views).length).toBeGreaterThan(5);
    expect(Object.keys(ui).length).toBeGreaterThan(2);
  });

  it("admin-ui (shared UI pieces) imports nothing from src/", () => {
    const bad = Object.entries(ui).flatMap(([file, text]) =>
      importsOf(text)
        .filter((i) => i.from.includes("/src/") || i.from.startsWith("../src"))
        .map((i) => `${file}: ${i.line}`),
    );
    expect(bad).toEqual([]);
  });

  it("views import only types from domain code, and never the handlers", () => {
    const allowedValues = [
      /^\.\.\/\.\.\/\.\.\/admin-ui\//,
      /^\.\.\/\.\.\/lib\/format$/,
      /^\.\.\/ranges$/,
      /^\.\//,
    ];
    const bad = Object.entries(views).flatMap(([file, text]) =>
      importsOf(text)
        .filter((i) => i.from.startsWith("."))
        .filter((i) => !i.typeOnly && !allowedValues.some((re) => re.test(i.from)))
        .map((i) => `${file}: ${i.line}`),
    );
    expect(bad).toEqual([]);
  });

  it("only app.tsx mounts the route modules; views never import a handler", () => {
    const bad = Object.entries(adminSrc).flatMap(([file, text]) =>
      importsOf(text)
        .filter(
          (i) =>
            (i.from.includes("/routes/") && !file.endsWith("/app.tsx")) ||
            (file.includes("/views/") && i.from.startsWith("../routes")),
        )
        .map((i) => `${file}: ${i.line}`),
    );
    expect(bad).toEqual([]);
  });
});
