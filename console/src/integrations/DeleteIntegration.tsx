import { navigate } from "../app/router";
import { ConfirmByName } from "../ui/ConfirmByName";
import { useDeleteIntegration, type IntegrationView } from "./queries";

export function DeleteIntegration({ view }: { view: IntegrationView }) {
  const remove = useDeleteIntegration(view.id);
  return (
    <ConfirmByName
      what="integration"
      name={view.name || `Integration ${view.id}`}
      consequence={`Its conversations end and its ${view.kind === "api" ? "API key stops working" : "webhook stops answering"}.`}
      busy={remove.isPending}
      error={remove.error}
      onConfirm={() => remove.mutate(undefined, { onSuccess: () => navigate("/integrations") })}
    />
  );
}
