// The sign-in form the app shows until a person has a session.
import { useState } from "react";
import { api, errorText } from "../api";
import type { SessionInfo } from "../bindings/SessionInfo";

export function SignIn({ onSignedIn, reason = null }: { onSignedIn: (s: SessionInfo) => void; reason?: string | null }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="signin"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          onSignedIn(await api.signIn({ username, password }));
        } catch (err) {
          setError(errorText(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <h1>Fieldsync</h1>
      <p className="muted">Sign in to the office.</p>
      {reason && (
        <p className="warning-box" role="alert" data-testid="signed-out-reason">
          You were signed out: {reason}. Nothing you saved on this device is lost: it waits here to be sent after you sign in.
        </p>
      )}
      <label>
        User name
        <input name="username" value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
      </label>
      <label>
        Password
        <input name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      {error && <p className="error">{error}</p>}
      <button type="submit" disabled={busy || !username}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
