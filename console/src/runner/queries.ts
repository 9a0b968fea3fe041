import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";

export type TestRun = Schemas["TestRunView"];
export type ChannelRun = Schemas["ChannelRun"];
export type TurnRecord = Schemas["TurnRecord"];
export type ComponentRecord = Schemas["ComponentRecord"];
export type VariableDelta = Schemas["VariableDelta"];
export type Check = Schemas["Check"];
export type Coverage = Schemas["Coverage"];
export type StartTestRun = Schemas["StartTestRun"];
export type ScenarioFile = Schemas["ScenarioFile"];
export type SavedScenario = Schemas["SavedScenarioView"];
export type SavedScenarioSummary = Schemas["SavedScenarioSummaryView"];

export const runKeys = {
  one: (id: number) => ["test-runs", id] as const,
  ofBot: (botId: number) => ["test-runs", "bot", botId] as const,
};

export const scenarioKeys = {
  ofBot: (botId: number) => ["saved-scenarios", botId] as const,
};

/** How often a running run is read again. */
const POLL_MS = 700;
/** Past runs shown. */
const PAST_RUNS = 20;

const botPath = (botId: number) => ({ path: { bot_id: botId } });

export function useStartRun(botId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: StartTestRun) => unwrap(api.POST("/v1/bots/{bot_id}/test-runs", { params: botPath(botId), body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: runKeys.ofBot(botId) }),
  });
}

/** A run, read again while it is running and no longer once it has finished. */
export function useRun(id: number | null) {
  return useQuery({
    queryKey: runKeys.one(id ?? 0),
    enabled: id !== null,
    queryFn: () => unwrap(api.GET("/v1/test-runs/{run_id}", { params: { path: { run_id: id ?? 0 } } })),
    refetchInterval: (query) => (query.state.data?.status === "running" ? POLL_MS : false),
  });
}

/** The bot's past runs, newest first, read again while one of them is running. */
export function useRuns(botId: number) {
  return useQuery({
    queryKey: runKeys.ofBot(botId),
    queryFn: async () =>
      (await unwrap(api.GET("/v1/bots/{bot_id}/test-runs", { params: { ...botPath(botId), query: { limit: PAST_RUNS } } })))
        .runs,
    refetchInterval: (query) => (query.state.data?.some((run) => run.status === "running") ? POLL_MS : false),
  });
}

export function useCancelRun(id: number) {
  return useMutation({
    mutationFn: () => unwrap(api.POST("/v1/test-runs/{run_id}/cancel", { params: { path: { run_id: id } } })),
  });
}

export function useSavedScenarios(botId: number) {
  return useQuery({
    queryKey: scenarioKeys.ofBot(botId),
    queryFn: async () => (await unwrap(api.GET("/v1/bots/{bot_id}/scenarios", { params: botPath(botId) }))).scenarios,
  });
}

/** Reads one saved scenario with its text (to open it in the editor). */
export function useOpenScenario(botId: number) {
  return useMutation({
    mutationFn: (id: number) =>
      unwrap(api.GET("/v1/bots/{bot_id}/scenarios/{scenario_id}", { params: { path: { bot_id: botId, scenario_id: id } } })),
  });
}

/** Saves the editor's scenario: a new one, or replacing the one opened (`id`). */
export function useSaveScenario(botId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id: number | null; body: Schemas["SaveScenario"] }) =>
      id === null
        ? unwrap(api.POST("/v1/bots/{bot_id}/scenarios", { params: botPath(botId), body }))
        : unwrap(
            api.PUT("/v1/bots/{bot_id}/scenarios/{scenario_id}", {
              params: { path: { bot_id: botId, scenario_id: id } },
              body,
            }),
          ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: scenarioKeys.ofBot(botId) }),
  });
}

export function useDeleteScenario(botId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: number) =>
      unwrap(api.DELETE("/v1/bots/{bot_id}/scenarios/{scenario_id}", { params: { path: { bot_id: botId, scenario_id: id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: scenarioKeys.ofBot(botId) }),
  });
}
