import { useEffect, useSyncExternalStore } from "react";
import { readToken, subscribeToSession } from "../auth/session";
import { SignIn } from "../auth/SignIn";
import { Layout } from "./Layout";
import { match, navigate, usePath } from "./router";
import { IntegrationsPage } from "../integrations/IntegrationsPage";
import { NewIntegrationPage } from "../integrations/NewIntegrationPage";
import { IntegrationPage } from "../integrations/IntegrationPage";
import { BotsPage } from "../bots/BotsPage";
import { NewBotPage } from "../bots/NewBotPage";
import { BotPage } from "../bots/BotPage";
import { RunnerPage } from "../runner/RunnerPage";

function Page({ path }: { path: string }) {
  let params: Record<string, string> | null;
  if (path === "/integrations") return <IntegrationsPage />;
  if ((params = match("/integrations/new/:kind", path))) return <NewIntegrationPage kind={params.kind} />;
  if ((params = match("/integrations/:id", path))) return <IntegrationPage id={Number(params.id)} />;
  if (path === "/bots") return <BotsPage />;
  if (path === "/bots/new") return <NewBotPage />;
  if ((params = match("/bots/:id", path))) return <BotPage id={Number(params.id)} />;
  if ((params = match("/bots/:id/test", path))) return <RunnerPage botId={Number(params.id)} />;
  return (
    <section>
      <h1>Not found</h1>
      <p>The console has no page at this address.</p>
    </section>
  );
}

export function App() {
  const token = useSyncExternalStore(subscribeToSession, readToken);
  const path = usePath();
  useEffect(() => {
    if (token && path === "/") navigate("/integrations", { replace: true });
  }, [token, path]);
  useEffect(() => {
    const title = path.split("/")[1] || "console";
    document.title = `${title[0].toUpperCase()}${title.slice(1)} · Bot platform`;
  }, [path]);
  if (!token) return <SignIn />;
  return (
    <Layout>
      <Page path={path} />
    </Layout>
  );
}
