import { useQuery } from "@tanstack/react-query";
import { Link } from "../app/router";
import { ErrorAlert, Loading, Notice } from "../ui/Alert";
import { RelativeTime } from "../ui/RelativeTime";
import { DeleteIntegration } from "./DeleteIntegration";
import { Endpoints } from "./Endpoints";
import { IntegrationForm } from "./IntegrationForm";
import { formFromView, updateBody, type Kind } from "./formModel";
import { useIntegration, useUpdateIntegration } from "./queries";
import { StatusControl } from "./StatusControl";
import { WhatsappStart } from "./WhatsappStart";

export function IntegrationPage({ id }: { id: number }) {
  const integration = useIntegration(id);
  const update = useUpdateIntegration(id);
  // Set by the creation page when "Activate after creating" was refused.
  const activationError = useQuery<string | undefined>({ queryKey: ["activation-error", id], queryFn: () => undefined, enabled: false });
  if (integration.isPending) return <Loading what="the integration" />;
  if (integration.error) return <ErrorAlert>{integration.error.message}</ErrorAlert>;
  const view = integration.data;
  const kind = view.kind as Kind;
  const initial = formFromView(view);
  return (
    <section aria-labelledby="integration-title">
      <p className="breadcrumb">
        <Link to="/integrations">Integrations</Link> /
      </p>
      <div className="page-head">
        <h1 id="integration-title">{view.name || `Integration ${view.id}`}</h1>
        <StatusControl view={view} pendingError={activationError.data} />
      </div>
      <p className="muted">
        {kind === "api" ? "API" : "WhatsApp"} integration · created <RelativeTime iso={view.created_at} /> · last activity{" "}
        <RelativeTime iso={view.last_activity_at} />
      </p>
      <Endpoints view={view} />
      <h2>Settings</h2>
      {update.isSuccess && <Notice>Saved.</Notice>}
      <IntegrationForm
        key={view.updated_at}
        kind={kind}
        initial={initial}
        view={view}
        submitLabel="Save changes"
        busy={update.isPending}
        error={update.error}
        onSubmit={(form) => update.mutate(updateBody(kind, initial, form))}
      />
      {view.whatsapp && <WhatsappStart view={view} />}
      <section aria-labelledby="danger-title" className="card danger-zone">
        <h2 id="danger-title">Delete</h2>
        <DeleteIntegration view={view} />
      </section>
    </section>
  );
}
