/** The bytes the mock upstream serves at `GET /v1/files/{id}/content` (same formula as mock-upstream.ts). */
export function fileContentBytes(size = 64 * 1024): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}
