import { useMutation, useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";

export type TestRun = Schemas["TestRunView"];
export type ChannelRun = Schemas["ChannelRun"];
export type TurnRecord = Schemas["TurnRecord"];
export type ComponentRecord = Schemas["ComponentRecord"];
export type VariableDelta = Schemas["VariableDelta"];
export type Check = Schemas["Check"];
export type StartTestRun = Schemas["StartTestRun"];

export const runKeys = {
  one: (id: number) => ["test-runs", id] as const,
};

/** How often a running run is read again. */
const POLL_MS = 700;

export function useStartRun(botId: number) {
  return useMutation({
    mutationFn: (body: StartTestRun) =>
      unwrap(api.POST("/v1/bots/{bot_id}/test-runs", { params: { path: { bot_id: botId } }, body })),
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

export function useCancelRun(id: number) {
  return useMutation({
    mutationFn: () => unwrap(api.POST("/v1/test-runs/{run_id}/cancel", { params: { path: { run_id: id } } })),
  });
}
