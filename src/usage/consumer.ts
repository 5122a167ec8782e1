/**
 * Usage queue consumer. Foundation placeholder: writes each batch as one JSON Lines object to R2.
 * The usage-events work replaces this with the idempotent consumer (ledger, rollups).
 */
export async function consumeUsageBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.messages.length === 0) return;
  const first = new Date(batch.messages[0]!.timestamp);
  const day = first.toISOString().slice(0, 10);
  const hour = first.toISOString().slice(11, 13);
  const key = `events/dt=${day}/hour=${hour}/${batch.messages[0]!.id}.jsonl`;
  const body = `${batch.messages.map((m) => JSON.stringify(m.body)).join("\n")}\n`;
  await env.EVENTS_BUCKET.put(key, body, { httpMetadata: { contentType: "application/x-ndjson" } });
  batch.ackAll();
}
