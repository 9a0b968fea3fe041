import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { signIn } from "./session";
import { Field } from "../ui/Field";
import { fieldError } from "../api/fieldErrors";

/** Checks the token against GET /v1/account before keeping it for the session. */
export function SignIn() {
  const queryClient = useQueryClient();
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const account = await unwrap(
        api.GET("/v1/account", { headers: { Authorization: `Bearer ${token.trim()}` } }),
      );
      queryClient.clear();
      queryClient.setQueryData(["account"], account);
      signIn(token.trim());
    } catch (failure) {
      const status = (failure as { status?: number }).status;
      setError(
        status === 401
          ? "This token is not valid (unknown or revoked)."
          : (fieldError(failure)?.message ?? "Sign-in failed."),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in" id="main">
      <form onSubmit={submit} className="card" aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Bot platform console</h1>
        <p>Sign in with an operator token. It is kept for this browser tab only.</p>
        <Field label="Operator token" error={error} hint="Starts with op_. botctl and scripts/dev.sh print one.">
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              type="password"
              autoComplete="off"
              spellCheck={false}
              required
              value={token}
              aria-describedby={describedBy}
              aria-invalid={invalid}
              onChange={(e) => setToken(e.target.value)}
            />
          )}
        </Field>
        <button type="submit" className="button-primary" disabled={busy || !token.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
