/** `__Host-`: the browser only accepts it Secure, on Path=/ and without Domain, so no subdomain can plant it. */
export const SESSION_COOKIE = "__Host-llmproxy_admin";
