import { useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { navigate } from "../app/router";
import { ErrorAlert } from "../ui/Alert";
import { fieldError } from "../api/fieldErrors";
import { ApiKeyDialog } from "./ApiKeyDialog";
import { IntegrationForm } from "./IntegrationForm";
import { createBody, emptyForm, type Kind } from "./formModel";
import { useCreateIntegration } from "./queries";

export function NewIntegrationPage({ kind }: { kind: string }) {
  const create = useCreateIntegration();
  const queryClient = useQueryClient();
  const [apiKey, setApiKey] = useState<string | null>(null);
  const [createdId, setCreatedId] = useState<number | null>(null);
  if (kind !== "api" && kind !== "whatsapp") return <ErrorAlert>Unknown integration kind “{kind}”.</ErrorAlert>;
  const title = kind === "api" ? "New API integration" : "New WhatsApp integration";
  const done = (id: number) => navigate(`/integrations/${id}`);
  return (
    <section aria-labelledby="new-title">
      <h1 id="new-title">{title}</h1>
      <IntegrationForm
        kind={kind as Kind}
        initial={emptyForm()}
        submitLabel="Create integration"
        busy={create.isPending}
        error={create.error}
        onSubmit={(form) =>
          create.mutate(
            { body: createBody(kind as Kind, form), activate: form.activate },
            {
              onSuccess: ({ view, apiKey: key, activationError }) => {
                setCreatedId(view.id);
                if (activationError) {
                  // Shown on the integration's page, where "Activate" can be tried again.
                  queryClient.setQueryData(["activation-error", view.id], fieldError(activationError)?.message);
                }
                if (key) setApiKey(key);
                else done(view.id);
              },
            },
          )
        }
      />
      <ApiKeyDialog
        apiKey={apiKey}
        onClose={() => {
          setApiKey(null);
          create.reset();
          if (createdId !== null) done(createdId);
        }}
      />
    </section>
  );
}
