export { handleProxy } from "./handler";

/**
 * `/v1` (OpenAI and Anthropic clients) and `/v1beta` (Gemini clients) and everything below them, decided on
 * the URL string (no parsing) for every request.
 */
export function isProxyPath(url: string): boolean {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  if (slash < 0) return false;
  if (!url.startsWith("/v1", slash)) return false;
  let end = slash + 3;
  if (url.startsWith("beta", end)) end += 4;
  const next = url.charCodeAt(end);
  // end, "/", "?" or "#"
  return Number.isNaN(next) || next === 47 || next === 63 || next === 35;
}
