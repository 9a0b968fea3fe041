// Messages as each channel shows them: WhatsApp bodies as a phone draws them (text, reply
// buttons, a list behind its button, media), the API's JSON as a chat client would.
import { useState } from "react";

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (value && typeof value === "object" ? (value as Json) : {});
const str = (value: unknown): string => (typeof value === "string" ? value : "");
const list = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : []);

function WhatsAppList({ action }: { action: Json }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className="wa-reply" aria-expanded={open} onClick={() => setOpen(!open)}>
        ☰ {str(action.button) || "Options"}
      </button>
      {open && (
        <div className="wa-list" role="list">
          {list(action.sections).map((section, i) => (
            <div key={i} role="listitem">
              {str(section.title) && <div className="wa-list-section">{str(section.title)}</div>}
              <ul>
                {list(section.rows).map((row) => (
                  <li key={str(row.id)}>
                    <span>{str(row.title)}</span>
                    {str(row.description) && <span className="muted"> {str(row.description)}</span>}
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </div>
      )}
    </>
  );
}

/** One Graph API `/messages` body as the phone shows it. */
export function WhatsAppBubble({ body }: { body: Json }) {
  const type = str(body.type);
  if (type === "text") return <div className="bubble bubble-bot bubble-wa">{str(obj(body.text).body)}</div>;
  if (type === "interactive") {
    const interactive = obj(body.interactive);
    const action = obj(interactive.action);
    return (
      <div className="bubble bubble-bot bubble-wa">
        {str(obj(interactive.header).text) && <strong>{str(obj(interactive.header).text)}</strong>}
        <div>{str(obj(interactive.body).text)}</div>
        {str(obj(interactive.footer).text) && <div className="muted">{str(obj(interactive.footer).text)}</div>}
        <div className="wa-actions">
          {interactive.type === "list" ? (
            <WhatsAppList action={action} />
          ) : (
            list(action.buttons).map((button) => (
              <span key={str(obj(button.reply).id)} className="wa-reply">
                {str(obj(button.reply).title)}
              </span>
            ))
          )}
        </div>
      </div>
    );
  }
  if (type === "template") {
    const template = obj(body.template);
    return (
      <div className="bubble bubble-bot bubble-wa">
        <span className="muted">Template</span> {str(template.name)} ({str(obj(template.language).code)})
      </div>
    );
  }
  const media = obj(body[type]);
  return (
    <div className="bubble bubble-bot bubble-wa">
      <span className="muted">{type || "message"}</span> {str(media.link)}
      {str(media.caption) && <div>{str(media.caption)}</div>}
    </div>
  );
}

/** One message of the API's reply (integrations manual: text, buttons, list, media). */
export function ApiBubble({ message }: { message: Json }) {
  const options = list(message.options);
  return (
    <div className="bubble bubble-bot bubble-api">
      {str(message.type) === "media" && <div className="muted">{str(message.media_url)}</div>}
      <div>{str(message.text)}</div>
      {options.length > 0 && (
        <ul className="api-options" aria-label={`${str(message.type)} options`}>
          {options.map((option) => (
            <li key={str(option.id)}>
              <code>{str(option.id)}</code> {str(option.text)}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The user's input of a turn, as the channel carried it. */
export function InputBubble({ input }: { input: Json }) {
  const describe = (): string => {
    switch (input.type) {
      case "start": {
        const payload = str(input.message_payload);
        return payload ? `Start: ${payload}` : "Start";
      }
      case "text":
        return str(input.text);
      case "selected_option":
        return `Chose ${str(input.option_id)}`;
      case "media":
        return `${str(input.media_type)}${str(input.caption) ? `: ${str(input.caption)}` : ""}`;
      default:
        return str(input.type).replace(/_/g, " ");
    }
  };
  return <div className="bubble bubble-user">{describe()}</div>;
}
