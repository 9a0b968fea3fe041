import { useMemo, useState } from "react";
import { Link } from "../app/router";
import { ErrorAlert, Loading } from "../ui/Alert";
import { RelativeTime } from "../ui/RelativeTime";
import { useIntegrations, type IntegrationSummary } from "./queries";

const KIND_LABEL: Record<string, string> = { api: "API", whatsapp: "WhatsApp" };

function filtered(list: IntegrationSummary[], search: string, kind: string, status: string) {
  const needle = search.trim().toLowerCase();
  return list.filter(
    (item) =>
      (kind === "" || item.kind === kind) &&
      (status === "" || item.status === status) &&
      (needle === "" ||
        item.name.toLowerCase().includes(needle) ||
        (item.bot?.name ?? "").toLowerCase().includes(needle)),
  );
}

export function IntegrationsPage() {
  const integrations = useIntegrations();
  const [search, setSearch] = useState("");
  const [kind, setKind] = useState("");
  const [status, setStatus] = useState("");
  const rows = useMemo(
    () => filtered(integrations.data ?? [], search, kind, status),
    [integrations.data, search, kind, status],
  );
  return (
    <section aria-labelledby="integrations-title">
      <div className="page-head">
        <h1 id="integrations-title">Integrations</h1>
        <div className="actions">
          <Link className="button button-primary" to="/integrations/new/api">
            New API integration
          </Link>
          <Link className="button" to="/integrations/new/whatsapp">
            New WhatsApp integration
          </Link>
        </div>
      </div>
      <div className="filters" role="search">
        <label>
          Search
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="Name or bot" />
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.target.value)}>
            <option value="">All kinds</option>
            <option value="api">API</option>
            <option value="whatsapp">WhatsApp</option>
          </select>
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">Any status</option>
            <option value="active">Active</option>
            <option value="inactive">Inactive</option>
          </select>
        </label>
      </div>
      {integrations.isPending && <Loading what="integrations" />}
      {integrations.error && <ErrorAlert>{integrations.error.message}</ErrorAlert>}
      {integrations.data && (
        <div className="table-wrap">
          <table className="responsive">
            <caption className="visually-hidden">
              {rows.length} of {integrations.data.length} integrations
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Status</th>
                <th scope="col">Connected bot</th>
                <th scope="col">Last activity</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((item) => (
                <tr key={item.id} data-integration={item.name}>
                  <td data-label="Name">
                    <Link to={`/integrations/${item.id}`}>{item.name || `Integration ${item.id}`}</Link>
                  </td>
                  <td data-label="Kind">{KIND_LABEL[item.kind] ?? item.kind}</td>
                  <td data-label="Status">
                    <span className={`badge badge-${item.status}`}>{item.status === "active" ? "Active" : "Inactive"}</span>
                  </td>
                  <td data-label="Connected bot">{item.bot?.name ?? <span className="muted">none</span>}</td>
                  <td data-label="Last activity">
                    <RelativeTime iso={item.last_activity_at} />
                  </td>
                </tr>
              ))}
              {rows.length === 0 && (
                <tr>
                  <td colSpan={5} className="muted">
                    {integrations.data.length === 0 ? "No integration yet." : "No integration matches."}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
