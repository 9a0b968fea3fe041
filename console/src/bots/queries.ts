import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";

export type BotView = Schemas["BotView"];
export type Issue = {
  component?: string | null;
  rule: string;
  message: string;
};

export const botKeys = {
  all: ["bots"] as const,
  one: (id: number) => ["bots", id] as const,
  versions: (id: number) => ["bots", id, "versions"] as const,
  version: (id: number, version: number) => ["bots", id, "versions", version] as const,
};

const botPath = (id: number) => ({ params: { path: { bot_id: id } } });

export function useBots() {
  return useQuery({ queryKey: botKeys.all, queryFn: async () => (await unwrap(api.GET("/v1/bots"))).bots });
}

export function useBot(id: number) {
  return useQuery({ queryKey: botKeys.one(id), queryFn: () => unwrap(api.GET("/v1/bots/{bot_id}", botPath(id))) });
}

export function useVersions(id: number) {
  return useQuery({
    queryKey: botKeys.versions(id),
    queryFn: async () => (await unwrap(api.GET("/v1/bots/{bot_id}/versions", botPath(id)))).versions,
  });
}

export function useVersion(id: number, version: number | null) {
  return useQuery({
    queryKey: botKeys.version(id, version ?? 0),
    enabled: version !== null,
    queryFn: () =>
      unwrap(api.GET("/v1/bots/{bot_id}/versions/{version}", { params: { path: { bot_id: id, version: version ?? 0 } } })),
  });
}

export function useCreateBot() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["CreateBot"]) => unwrap(api.POST("/v1/bots", { body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: botKeys.all }),
  });
}

export function useUpdateBot(id: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["UpdateBot"]) => unwrap(api.PATCH("/v1/bots/{bot_id}", { ...botPath(id), body })),
    onSuccess: (bot) => {
      queryClient.setQueryData(botKeys.one(id), bot);
      return queryClient.invalidateQueries({ queryKey: botKeys.all, exact: true });
    },
  });
}

/** The draft's validation, asked again for each saved revision (validating changes nothing). */
export function useValidation(id: number, revision: number | undefined) {
  return useQuery({
    queryKey: [...botKeys.one(id), "validation", revision] as const,
    enabled: revision !== undefined,
    queryFn: () => unwrap(api.POST("/v1/bots/{bot_id}/validate", botPath(id))),
  });
}

export function usePublishBot(id: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/v1/bots/{bot_id}/publish", botPath(id))),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: botKeys.all }),
  });
}

export function useDeleteBot(id: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.DELETE("/v1/bots/{bot_id}", botPath(id))),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: botKeys.one(id) });
      return queryClient.invalidateQueries({ queryKey: botKeys.all });
    },
  });
}
