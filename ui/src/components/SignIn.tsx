// The sign-in form the app shows until a person has a session. On a shared computer it also
// says what the last sign-out left unsynced, and whose work waits here for their next sign-in.
import { useState } from "react";
import { api, errorText } from "../api";
import type { DeskView } from "../bindings/DeskView";
import type { SessionInfo } from "../bindings/SessionInfo";
import { waitingLine } from "../format";

export function SignIn({
  onSignedIn,
  reason = null,
  left = null,
  desk = null,
  onSettings,
}: {
  onSignedIn: (s: SessionInfo) => void;
  /** Why the server ended the last session, in its words. */
  reason?: string | null;
  /** What the last sign-out here left unsynced, in the app's words. */
  left?: string | null;
  /** This computer's settings and who waits on it; none for an app with no desk. */
  desk?: DeskView | null;
  onSettings?: () => void;
}) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="signin"
      data-testid="sign-in"
      aria-label="Sign in"
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
      {left && (
        <p className="notice" role="status" data-testid="signed-out-left">
          {left}
        </p>
      )}
      {desk && desk.waiting.length > 0 && (
        <div className="waiting" data-testid="waiting">
          <p>Waiting on this computer:</p>
          <ul>
            {desk.waiting.map((w) => (
              <li key={w.user}>{waitingLine(w)}</li>
            ))}
          </ul>
        </div>
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
      {desk && (
        <p className="small muted desk-line">
          {desk.settings.server ? (
            <>
              Server <span className="mono">{desk.settings.server}</span> · this computer is <q>{desk.settings.computer_name}</q>.{" "}
            </>
          ) : (
            "No server address yet. "
          )}
          {onSettings && (
            <button type="button" className="link" onClick={onSettings}>
              Settings
            </button>
          )}
        </p>
      )}
    </form>
  );
}
