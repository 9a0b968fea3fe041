import { Link } from "../app/router";
import { ErrorAlert, Loading } from "../ui/Alert";
import { RelativeTime } from "../ui/RelativeTime";
import { useBots } from "./queries";

export function BotsPage() {
  const bots = useBots();
  return (
    <section aria-labelledby="bots-title">
      <div className="page-head">
        <h1 id="bots-title">Bots</h1>
        <Link className="button button-primary" to="/bots/new">
          New bot
        </Link>
      </div>
      {bots.isPending && <Loading what="bots" />}
      {bots.error && <ErrorAlert>{bots.error.message}</ErrorAlert>}
      {bots.data && (
        <div className="table-wrap">
          <table className="responsive">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Published</th>
                <th scope="col">Latest version</th>
                <th scope="col">Draft changed</th>
              </tr>
            </thead>
            <tbody>
              {bots.data.map((bot) => (
                <tr key={bot.id} data-bot={bot.name}>
                  <td data-label="Name">
                    <Link to={`/bots/${bot.id}`}>{bot.name}</Link>
                  </td>
                  <td data-label="Published">
                    <span className={`badge badge-${bot.published ? "active" : "inactive"}`}>{bot.published ? "Published" : "Draft only"}</span>
                  </td>
                  <td data-label="Latest version">{bot.latest_version ?? <span className="muted">none</span>}</td>
                  <td data-label="Draft changed">
                    <RelativeTime iso={bot.updated_at} />
                  </td>
                </tr>
              ))}
              {bots.data.length === 0 && (
                <tr>
                  <td colSpan={4} className="muted">
                    No bot yet.
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
