export { handleProxy } from "./handler";

/** `/v1` and everything below it, decided on the URL string (no parsing) for every request. */
export function isProxyPath(url: string): boolean {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  if (slash < 0) return false;
  if (!url.startsWith("/v1", slash)) return false;
  const next = url.charCodeAt(slash + 3);
  // end, "/", "?" or "#"
  return Number.isNaN(next) || next === 47 || next === 63 || next === 35;
}
