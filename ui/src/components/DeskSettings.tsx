// This computer's settings: the sync server's address and the name dispatchers see for it. The
// same form is the first run's screen (nothing works before there is an address), the settings
// screen reached from sign-in or the desktop menu, and a dialog while someone is signed in.
import { useId, useState } from "react";
import { api, ApiError, errorText } from "../api";
import type { DeskView } from "../bindings/DeskView";
import type { ServerCheck } from "../bindings/ServerCheck";
import { useEscape } from "../useEscape";

/** Where the form is shown: the first run, the screen before sign-in, or a dialog after it. */
export type DeskFormMode = "first-run" | "screen" | "dialog";

export function DeskForm({
  desk,
  mode,
  onSaved,
  onClose,
}: {
  desk: DeskView;
  mode: DeskFormMode;
  /** The settings as kept, after a save the app accepted. */
  onSaved: (desk: DeskView) => void;
  /** Leaving without saving; none on the first run, which has nowhere to go back to. */
  onClose?: () => void;
}) {
  const [server, setServer] = useState(desk.settings.server ?? "");
  const [name, setName] = useState(desk.settings.computer_name);
  // The last check's answer and the text it was about: once the address is edited, an old
  // "it is up" would be about something else, so it is shown only while the text is the same.
  const [check, setCheck] = useState<{ about: string; answer: ServerCheck } | null>(null);
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const ids = useId();
  useEscape(() => onClose?.());
  const shown = check && check.about === server ? check.answer : null;
  const first = mode === "first-run";

  const runCheck = async () => {
    setChecking(true);
    setError(null);
    const about = server;
    try {
      setCheck({ about, answer: await api.checkServer(about) });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setChecking(false);
    }
  };

  const heading = first ? "Connect this computer to Fieldsync" : "This computer's settings";
  const Heading = mode === "dialog" ? "h2" : "h1";
  const rootProps = {
    className: mode === "dialog" ? "dialog desk-form" : "signin desk-form",
    "data-testid": first ? "first-run" : "settings",
    "aria-labelledby": `${ids}-heading`,
    role: mode === "dialog" ? "dialog" : undefined,
  };

  if (desk.fixed)
    return (
      <section {...rootProps}>
        <Heading id={`${ids}-heading`}>{heading}</Heading>
        <p className="notice" data-testid="fixed-settings">
          This app was started with its server address given, so its settings are shown here but are not changed from the app. To change them, change
          how the app is started.
        </p>
        <dl className="values">
          <div>
            <dt>Server address</dt>
            <dd>{desk.settings.server ?? "none"}</dd>
          </div>
          <div>
            <dt>Name of this computer</dt>
            <dd>{desk.settings.computer_name}</dd>
          </div>
        </dl>
        {onClose && (
          <div className="actions">
            <button type="button" className="secondary" onClick={onClose} autoFocus>
              Close
            </button>
          </div>
        )}
      </section>
    );

  return (
    <form
      {...rootProps}
      onSubmit={async (e) => {
        e.preventDefault();
        setSaving(true);
        setError(null);
        setSaved(false);
        const about = server;
        try {
          const kept = await api.saveSettings({ server: about.trim() === "" ? null : about, computer_name: name });
          setSaved(true);
          onSaved(kept);
        } catch (err) {
          // A refused address is the check's own answer: it shows where a check's would.
          if (err instanceof ApiError && err.code === "server_check") setCheck({ about, answer: { server: about, ok: false, message: err.message } });
          else setError(errorText(err));
        } finally {
          setSaving(false);
        }
      }}
    >
      <Heading id={`${ids}-heading`}>{heading}</Heading>
      {first ? (
        <p className="muted">
          Give the server address of your company's Fieldsync sync server. Whoever runs the server can tell you it. Everyone who signs in on this computer
          uses it.
        </p>
      ) : (
        <p className="muted">The server address and the name are this computer's, the same for everyone who signs in on it.</p>
      )}
      {mode === "dialog" && (
        <p className="notice" data-testid="next-sign-in">
          You are signed in: a changed address or name takes effect at the next sign-in on this computer.
        </p>
      )}
      <div className="field">
        <label htmlFor={`${ids}-server`}>Server address</label>
        <div className="field-row">
          <input
            id={`${ids}-server`}
            name="server"
            type="text"
            inputMode="url"
            autoComplete="url"
            spellCheck={false}
            placeholder="https://sync.example.com"
            value={server}
            onChange={(e) => setServer(e.target.value)}
            aria-describedby={shown ? `${ids}-check` : undefined}
            aria-invalid={shown ? !shown.ok : undefined}
            autoFocus
          />
          <button type="button" className="secondary" onClick={runCheck} disabled={checking || server.trim() === ""}>
            {checking ? "Checking…" : "Check"}
          </button>
        </div>
        {shown && (
          <p id={`${ids}-check`} className={`check-result ${shown.ok ? "check-ok" : "check-bad"}`} role={shown.ok ? "status" : "alert"} data-testid="server-check">
            <span aria-hidden="true" className="check-mark">
              {shown.ok ? "✓" : "✗"}
            </span>
            {shown.message}
          </p>
        )}
      </div>
      <div className="field">
        <label htmlFor={`${ids}-name`}>Name of this computer</label>
        <input id={`${ids}-name`} name="computer_name" value={name} onChange={(e) => setName(e.target.value)} aria-describedby={`${ids}-name-hint`} maxLength={60} />
        <p id={`${ids}-name-hint`} className="hint">
          Dispatchers see this name as the device of whoever signs in here.
          {desk.hostname !== name && (
            <>
              {" "}
              The computer calls itself <q>{desk.hostname}</q>.
            </>
          )}
        </p>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {saved && mode === "dialog" && (
        <p className="check-result check-ok" role="status">
          <span aria-hidden="true" className="check-mark">
            ✓
          </span>
          Saved. The next person to sign in on this computer uses these settings.
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={saving || checking}>
          {saving ? "Checking the server…" : first ? "Continue" : "Save"}
        </button>
        {onClose && (
          <button type="button" className="secondary" onClick={onClose}>
            {saved ? "Close" : "Cancel"}
          </button>
        )}
      </div>
    </form>
  );
}
