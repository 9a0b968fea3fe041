import { ApiBubble, InputBubble, WhatsAppBubble } from "./Bubbles";
import { Checks } from "./Checks";
import { VariableDelta } from "./VariableDelta";
import type { ChannelRun, ComponentRecord, TurnRecord } from "./queries";

type Json = Record<string, unknown>;

function ComponentMessages({ component, channel }: { component: ComponentRecord; channel: ChannelRun["channel"] }) {
  const bubbles =
    channel === "whatsapp"
      ? (component.whatsapp_bodies ?? []).map((body, i) => <WhatsAppBubble key={i} body={body as Json} />)
      : component.messages.map((message, i) => <ApiBubble key={i} message={message as Json} />);
  return (
    <li className="runner-component" data-component={component.id}>
      <div className="runner-component-head muted">
        <code>{component.id}</code> {component.type.replace(/_/g, " ")} · {component.event}
        {component.detail && ` · ${component.detail}`}
      </div>
      {bubbles}
      {(component.limit_checks ?? []).map((note, i) => (
        <p key={i} className="hint">
          {note}
        </p>
      ))}
      <VariableDelta delta={component.variables} />
    </li>
  );
}

function Turn({ turn, channel }: { turn: TurnRecord; channel: ChannelRun["channel"] }) {
  const raw = channel === "whatsapp" ? turn.whatsapp : turn.api_reply;
  return (
    <li className="runner-turn" data-turn={turn.turn}>
      <h4>{turn.turn === 0 ? "Start" : `Turn ${turn.turn}`}</h4>
      {turn.skipped ? (
        <p className="muted">{turn.skipped}</p>
      ) : (
        <>
          {turn.input && <InputBubble input={turn.input as Json} />}
          <ol className="runner-components">
            {turn.components.map((component, i) => (
              <ComponentMessages key={i} component={component} channel={channel} />
            ))}
          </ol>
          {(turn.whatsapp ?? [])
            .filter((delivery) => delivery.outcome !== "sent")
            .map((delivery, i) => (
              <p key={i} className="hint">
                Delivery: {String(delivery.outcome)}
                {delivery.detail && ` (${delivery.detail})`}
              </p>
            ))}
          <p className="muted">
            State: {turn.state ?? "none"}
            {turn.is_final && " · final"} · {Math.round(turn.duration_ms)} ms
          </p>
        </>
      )}
      <Checks checks={turn.checks} />
      {raw && (
        <details>
          <summary>{channel === "whatsapp" ? "Graph API bodies" : "API reply"} (JSON)</summary>
          <pre className="code-block">{JSON.stringify(raw, null, 2)}</pre>
        </details>
      )}
    </li>
  );
}

/** The run as a chat in its channel's style, turn by turn. */
export function Timeline({ run }: { run: ChannelRun }) {
  return (
    <section className={`runner-timeline runner-timeline-${run.channel}`} aria-label="Timeline">
      <ol className="runner-turns">
        {run.turns.map((turn) => (
          <Turn key={turn.turn} turn={turn} channel={run.channel} />
        ))}
      </ol>
      <Checks checks={run.checks} />
    </section>
  );
}
