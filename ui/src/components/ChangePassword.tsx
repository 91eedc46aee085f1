// Choosing one's own password: asked before anything else when an admin set it (a first
// password, a reset), and offered from the header at any time.
import { useState } from "react";
import { api, errorText } from "../api";

export function ChangePassword({ required, onDone }: { required: boolean; onDone: (changed: boolean) => void }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const mismatch = again.length > 0 && next !== again;
  return (
    <form
      className={required ? "signin" : "dialog"}
      role={required ? undefined : "dialog"}
      aria-label="Change your password"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          await api.changeOwnPassword({ current_password: current, new_password: next });
          onDone(true);
        } catch (err) {
          setError(errorText(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>Choose your password</h2>
      {required && <p className="muted">Your password was set by an admin. Choose your own before you go on; only you will know it.</p>}
      <label>
        Current password
        <input type="password" value={current} onChange={(e) => setCurrent(e.target.value)} autoComplete="current-password" />
      </label>
      <label>
        New password (at least 8 characters)
        <input type="password" value={next} onChange={(e) => setNext(e.target.value)} autoComplete="new-password" />
      </label>
      <label>
        New password again
        <input type="password" value={again} onChange={(e) => setAgain(e.target.value)} autoComplete="new-password" aria-invalid={mismatch} />
      </label>
      {mismatch && <p className="error">The two new passwords differ.</p>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={busy || !current || !next || next !== again}>
          {busy ? "Saving…" : "Save password"}
        </button>
        {!required && (
          <button type="button" className="secondary" onClick={() => onDone(false)}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
