import type { FC } from "hono/jsx";
import { Alert, Layout } from "../../../admin-ui/layout";
import { fmtInt } from "../../lib/format";
import type { Project } from "../../storage/schema";
import type { Token } from "../../tokens/response";

const csvCell = (v: string | null) =>
  v === null ? "" : /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;

/** Many tokens created at once: every secret shown once, with a CSV to download or copy. */
export const BatchCreated: FC<{
  csrf: string;
  project: Project;
  created: { token: Token; secret: string }[];
}> = ({ csrf, project, created }) => {
  const csv = [
    "id,name,token,expires_at",
    ...created.map(({ token: t, secret }) => [t.id, t.name, secret, t.expires_at].map(csvCell).join(",")),
  ].join("\n");
  return (
    <Layout title="Tokens created" nav="tokens" csrf={csrf}>
      <h1>{fmtInt(created.length)} tokens created</h1>
      <div class="card">
        <Alert kind="warn">
          Copy or download the secrets now: this is the only time they are shown. The gateway stores only
          their hashes.
        </Alert>
        <div class="row">
          <button
            type="button"
            class="primary"
            data-download="batch-csv"
            data-filename={`${project.name}-tokens.csv`}
          >
            Download CSV
          </button>
          <button type="button" data-copy="batch-csv">
            Copy CSV
          </button>
          <a class="btn" href={`/admin/tokens?project_id=${project.id}`}>
            Tokens of “{project.name}”
          </a>
        </div>
        <pre id="batch-csv" class="top-gap" data-testid="batch-csv">
          {csv}
        </pre>
      </div>
    </Layout>
  );
};
