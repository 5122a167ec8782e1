import type { FC } from "hono/jsx";
import { Alert, Layout } from "../../../admin-ui/layout";
import type { IssuingKey } from "../../issuing/keys/schema";
import type { EndUser, IdentityProvider, Project } from "../../storage/schema";
import { EndUsersCard, IdentityProvidersCard } from "./issuing-identity";
import { IssuingKeysCard } from "./issuing-keys";

type Values = Record<string, string>;
type Errors = Record<string, string>;

/** A project's ways to issue tokens without the management token: issuing keys, identity providers, users. */
export const ProjectIssuing: FC<{
  csrf: string;
  project: Project;
  keys: IssuingKey[];
  providers: IdentityProvider[];
  users: EndUser[];
  values?: Values;
  errors?: Errors;
  error?: string;
  created?: { kind: "key"; secret: string; name: string };
}> = ({ csrf, project: p, keys, providers, users, values = {}, errors = {}, error, created }) => (
  <Layout title={`Issuing · ${p.name}`} nav="projects" csrf={csrf}>
    <div class="spread">
      <h1 class="wrap-any">Issuing tokens for “{p.name}”</h1>
      <a class="btn" href={`/admin/projects/${p.id}`}>
        Back to the project
      </a>
    </div>
    {error ? <Alert kind="error">{error}</Alert> : null}
    {created ? (
      <div class="card" data-testid="key-created">
        <Alert kind="warn">Copy the key “{created.name}” now: this is the only time it is shown.</Alert>
        <div class="secret">
          <code id="key-secret" data-testid="key-secret">
            {created.secret}
          </code>
          <button type="button" class="primary" data-copy="key-secret">
            Copy
          </button>
        </div>
        <p class="muted small">
          The app's backend uses it like the management token on <code>/manage/tokens</code> (create, list,
          read, revoke) for this project only, within the ceilings below.
        </p>
      </div>
    ) : null}

    <IssuingKeysCard csrf={csrf} projectId={p.id} keys={keys} values={values} errors={errors} />

    <IdentityProvidersCard
      csrf={csrf}
      projectId={p.id}
      providers={providers}
      values={values}
      errors={errors}
    />

    <EndUsersCard csrf={csrf} projectId={p.id} users={users} />
  </Layout>
);
