import { exports } from "cloudflare:workers";
import { BASE } from "./helpers";

export const ADMIN_PASSWORD = "test-admin-password";

type AdminInit = { method?: string; form?: Record<string, string>; headers?: Record<string, string> };

/** A logged-in admin browser: the session cookie and the page's CSRF token. */
export type Admin = { cookie: string; csrf: string };

export function adminCall(path: string, init: AdminInit = {}, admin?: Admin): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (admin) headers.cookie = admin.cookie;
  let body: string | undefined;
  if (init.form) {
    body = new URLSearchParams(init.form).toString();
    headers["content-type"] = "application/x-www-form-urlencoded";
    headers.origin ??= BASE;
  }
  return exports.default.fetch(
    new Request(`${BASE}${path}`, {
      method: init.method ?? (init.form ? "POST" : "GET"),
      headers,
      body,
      // Show redirects as they are (the default would follow them, like a browser without cookies).
      redirect: "manual",
    }),
  );
}

/** Posts a form as the logged-in admin would from a page: same origin, with the CSRF token. */
export function adminPost(admin: Admin, path: string, form: Record<string, string> = {}): Promise<Response> {
  return adminCall(path, { form: { _csrf: admin.csrf, ...form } }, admin);
}

export const cookieOf = (res: Response) => (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "";

export const csrfIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";

let ipCounter = 0;
/** Each login comes from its own client IP, so the wrong-password guard of one test never slows another. */
export const freshIp = () => `203.0.113.${(++ipCounter % 250) + 1}`;

export async function login(): Promise<Admin> {
  const res = await adminCall("/admin/login", {
    form: { password: ADMIN_PASSWORD, next: "/admin" },
    headers: { "cf-connecting-ip": freshIp() },
  });
  if (res.status !== 303) throw new Error(`login: ${res.status} ${await res.text()}`);
  const cookie = cookieOf(res);
  const page = await adminCall("/admin", {}, { cookie, csrf: "" });
  return { cookie, csrf: csrfIn(await page.text()) };
}
