import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";

export type IntegrationView = Schemas["IntegrationView"];
export type IntegrationSummary = Schemas["IntegrationSummary"];

export const integrationKeys = {
  all: ["integrations"] as const,
  one: (id: number) => ["integrations", id] as const,
};

export function useIntegrations() {
  return useQuery({
    queryKey: integrationKeys.all,
    queryFn: async () => (await unwrap(api.GET("/v1/integrations"))).integrations,
  });
}

export function useIntegration(id: number) {
  return useQuery({
    queryKey: integrationKeys.one(id),
    queryFn: () =>
      unwrap(api.GET("/v1/integrations/{integration_id}", { params: { path: { integration_id: id } } })),
  });
}

/** Published bots, alphabetically (the API lists them so, case-insensitively). */
export function usePublishedBots() {
  return useQuery({
    queryKey: ["bots", { published: true }],
    queryFn: async () => (await unwrap(api.GET("/v1/bots", { params: { query: { published: "true" } } }))).bots,
  });
}

function useRefreshAfter() {
  const queryClient = useQueryClient();
  return (view?: IntegrationView) => {
    if (view) queryClient.setQueryData(integrationKeys.one(view.id), view);
    return queryClient.invalidateQueries({ queryKey: integrationKeys.all });
  };
}

export function useCreateIntegration() {
  const refresh = useRefreshAfter();
  return useMutation({
    mutationFn: async ({ body, activate }: { body: Schemas["CreateIntegration"]; activate: boolean }) => {
      const created = await unwrap(api.POST("/v1/integrations", { body }));
      // The key in clear exists only in this answer; it is handed to the dialog, not cached.
      const { api_key: apiKey, ...view } = created;
      let activationError: unknown = null;
      if (activate) {
        try {
          await unwrap(
            api.POST("/v1/integrations/{integration_id}/activate", {
              params: { path: { integration_id: created.id } },
            }),
          );
        } catch (error) {
          activationError = error;
        }
      }
      return { view: view as IntegrationView, apiKey: apiKey ?? null, activationError };
    },
    onSuccess: () => refresh(),
  });
}

export function useUpdateIntegration(id: number) {
  const refresh = useRefreshAfter();
  return useMutation({
    mutationFn: (body: Schemas["UpdateIntegration"]) =>
      unwrap(api.PATCH("/v1/integrations/{integration_id}", { params: { path: { integration_id: id } }, body })),
    onSuccess: (view) => refresh(view),
  });
}

export function useSetActive(id: number) {
  const refresh = useRefreshAfter();
  return useMutation({
    mutationFn: (active: boolean) => {
      const params = { path: { integration_id: id } };
      return unwrap(
        active
          ? api.POST("/v1/integrations/{integration_id}/activate", { params })
          : api.POST("/v1/integrations/{integration_id}/deactivate", { params }),
      );
    },
    onSuccess: (view) => refresh(view),
  });
}

export function useDeleteIntegration(id: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(api.DELETE("/v1/integrations/{integration_id}", { params: { path: { integration_id: id } } })),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: integrationKeys.one(id) });
      return queryClient.invalidateQueries({ queryKey: integrationKeys.all });
    },
  });
}

export function useStartWhatsapp(id: number) {
  return useMutation({
    mutationFn: (body: Schemas["StartWhatsapp"]) =>
      unwrap(
        api.POST("/v1/integrations/{integration_id}/whatsapp/start", {
          params: { path: { integration_id: id } },
          body,
        }),
      ),
  });
}
