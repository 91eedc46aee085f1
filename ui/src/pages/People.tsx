// People and devices, for the admin: every account (add one with a first password, change a
// role or team, disable or enable, reset a password), every device with its person, last seen and
// what it reported as unsynced (revoke a lost one), and the admin log. Each action that cannot be
// taken back in one click asks first, in the app's own dialog.
import { useCallback, useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { AccountView } from "../bindings/AccountView";
import type { DeviceView } from "../bindings/DeviceView";
import type { PeoplePage } from "../bindings/PeoplePage";
import { momentText, pretty, when } from "../format";

const moment = (iso: string) => momentText(iso);

export function People({ refreshKey }: { refreshKey: number }) {
  const [page, setPage] = useState<PeoplePage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<AccountView | null>(null);
  const [revoking, setRevoking] = useState<DeviceView | null>(null);
  const load = useCallback(
    () =>
      api
        .people()
        .then((p) => {
          setPage(p);
          setError(null);
        })
        .catch((e) => setError(errorText(e))),
    [],
  );
  useEffect(() => {
    load();
  }, [load, refreshKey]);
  const done = (message: string) => {
    setNotice(message);
    setAdding(false);
    setEditing(null);
    setRevoking(null);
    load();
  };
  if (!page) return <p className="muted">{error ?? "Loading people and devices…"}</p>;
  return (
    <section data-testid="people" className="people" aria-labelledby="people-title">
      <div className="report-head">
        <h2 id="people-title">People and devices</h2>
        <button onClick={() => setAdding(true)}>Add a person…</button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {adding && <AddPerson roles={page.roles} onDone={done} onCancel={() => setAdding(false)} />}
      {editing && <EditPerson account={editing} roles={page.roles} onDone={done} onCancel={() => setEditing(null)} />}
      <table className="board" data-testid="accounts" aria-labelledby="people-title">
        <thead>
          <tr>
            <th scope="col">Person</th>
            <th scope="col">Role</th>
            <th scope="col">Team</th>
            <th scope="col">Since</th>
            <th scope="col">State</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {page.accounts.map((a) => (
            <tr key={a.name} data-user={a.name} className={a.disabled_at ? "disabled" : ""}>
              <th scope="row">
                {a.display_name} <span className="muted small">{a.name}</span>
              </th>
              <td>{pretty(a.role)}</td>
              <td>{a.team ?? "—"}</td>
              <td>{moment(a.created_at)}</td>
              <td>
                {a.disabled_at ? `disabled ${when(a.disabled_at)}` : "can sign in"}
                {a.must_change_password && <div className="muted small">chooses a new password at next sign-in</div>}
              </td>
              <td>
                <button className="link" onClick={() => setEditing(a)} aria-label={`Change ${a.display_name}`}>
                  Change…
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3 id="devices-title">Devices</h3>
      {revoking && <RevokeDevice device={revoking} onDone={done} onCancel={() => setRevoking(null)} />}
      <table className="board" data-testid="devices" aria-labelledby="devices-title">
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Person</th>
            <th scope="col">Last seen</th>
            <th scope="col">Unsynced at last report</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {page.devices.map((d) => (
            <tr key={d.device_id} data-device={d.device_id} className={d.revoked_at ? "disabled" : ""}>
              <th scope="row">{d.name}</th>
              <td>
                {d.display_name} <span className="muted small">{pretty(d.role)}</span>
              </td>
              <td>{when(d.last_seen)}</td>
              <td className={d.unsynced ? "warn" : ""}>
                {d.unsynced ?? "—"}
                {d.unsynced && d.oldest_pending ? <div className="muted small">oldest from {moment(d.oldest_pending)}</div> : null}
              </td>
              <td>
                {d.revoked_at ? (
                  <span className="muted small">revoked {when(d.revoked_at)}</span>
                ) : (
                  <button className="link" onClick={() => setRevoking(d)} aria-label={`Revoke ${d.name}`}>
                    Revoke…
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3 id="log-title">Admin log</h3>
      <ol className="timeline" data-testid="admin-log" aria-labelledby="log-title">
        {page.log.map((e, i) => (
          <li key={`${e.at}-${i}`}>
            <span className="tl-kind">{pretty(e.action)}</span> <span title={e.target_id}>{e.target}</span>
            {e.detail && `: ${e.detail}`}
            <div className="muted small">
              {e.by} · {moment(e.at)}
            </div>
          </li>
        ))}
        {page.log.length === 0 && <li className="muted">Nothing yet.</li>}
      </ol>
    </section>
  );
}

function AddPerson({ roles, onDone, onCancel }: { roles: string[]; onDone: (m: string) => void; onCancel: () => void }) {
  const [form, setForm] = useState({ name: "", display_name: "", role: "technician", team: "", password: "" });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const field = (k: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setForm({ ...form, [k]: e.target.value });
  return (
    <form
      className="dialog"
      role="dialog"
      aria-label="Add a person"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        try {
          const added = await api.addAccount(form);
          onDone(`${added.display_name} added. They choose their own password when they first sign in.`);
        } catch (err) {
          setError(errorText(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <h3>Add a person</h3>
      <label>
        User name (what they sign in with)
        <input value={form.name} onChange={field("name")} autoComplete="off" autoFocus />
      </label>
      <label>
        Name shown on screens
        <input value={form.display_name} onChange={field("display_name")} />
      </label>
      <label>
        Role
        <select value={form.role} onChange={field("role")}>
          {roles.map((r) => (
            <option key={r} value={r}>
              {pretty(r)}
            </option>
          ))}
        </select>
      </label>
      <label>
        Team (optional)
        <input value={form.team} onChange={field("team")} />
      </label>
      <label>
        First password (they change it at first sign-in)
        <input type="password" value={form.password} onChange={field("password")} autoComplete="new-password" />
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={busy || !form.name || !form.display_name || !form.password}>
          Add
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function EditPerson({ account, roles, onDone, onCancel }: { account: AccountView; roles: string[]; onDone: (m: string) => void; onCancel: () => void }) {
  const [role, setRole] = useState(account.role);
  const [team, setTeam] = useState(account.team ?? "");
  const [displayName, setDisplayName] = useState(account.display_name);
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Disabling asks first and says what it does: one click does not lock a person out.
  const [confirmDisable, setConfirmDisable] = useState(false);
  const run = async (what: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    try {
      onDone(await what());
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const changed = role !== account.role || team !== (account.team ?? "") || displayName !== account.display_name;
  return (
    <div className="dialog" role="dialog" aria-label={`Change ${account.display_name}`}>
      <h3>
        {account.display_name} <span className="muted small">{account.name}</span>
      </h3>
      <label>
        Name shown on screens
        <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
      </label>
      <label>
        Role
        <select value={role} onChange={(e) => setRole(e.target.value)} disabled={account.is_me}>
          {roles.map((r) => (
            <option key={r} value={r}>
              {pretty(r)}
            </option>
          ))}
        </select>
      </label>
      <label>
        Team (empty: none)
        <input value={team} onChange={(e) => setTeam(e.target.value)} />
      </label>
      <div className="actions">
        <button
          disabled={busy || !changed}
          onClick={() =>
            run(async () => {
              const after = await api.changeAccount({
                name: account.name,
                display_name: displayName !== account.display_name ? displayName : null,
                role: role !== account.role ? role : null,
                team: team !== (account.team ?? "") ? team : null,
                disabled: null,
              });
              return `${after.display_name} changed.`;
            })
          }
        >
          Save changes
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <label>
        New password (they change it at their next sign-in)
        <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" />
      </label>
      <div className="actions">
        <button
          className="secondary"
          disabled={busy || !password}
          onClick={() =>
            run(async () => {
              await api.resetPassword({ name: account.name, password });
              return `${account.display_name}'s password was reset; they choose a new one at their next sign-in.`;
            })
          }
        >
          Reset password
        </button>
        {!account.is_me && !account.disabled_at && !confirmDisable && (
          <button className="danger" disabled={busy} onClick={() => setConfirmDisable(true)}>
            Disable…
          </button>
        )}
        {!account.is_me && (account.disabled_at || confirmDisable) && (
          <button
            className={account.disabled_at ? "secondary" : "danger"}
            disabled={busy}
            onClick={() =>
              run(async () => {
                const after = await api.changeAccount({ name: account.name, display_name: null, role: null, team: null, disabled: !account.disabled_at });
                return after.disabled_at
                  ? `${after.display_name} is disabled: every device of theirs is refused from its next call. Their records and history stay.`
                  : `${after.display_name} can sign in again.`;
              })
            }
          >
            {account.disabled_at ? "Enable" : `Disable ${account.display_name}`}
          </button>
        )}
      </div>
      {confirmDisable && !account.disabled_at && (
        <p className="warning-box" data-testid="disable-consequences">
          ⚠ {account.display_name} cannot sign in any more, and every device of theirs is refused from its next call (what those devices have not synced stays on
          them). Jobs they own stay theirs until a dispatcher reassigns them. Their records and history are kept; Enable lets them back.
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

function RevokeDevice({ device, onDone, onCancel }: { device: DeviceView; onDone: (m: string) => void; onCancel: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <div className="dialog" role="dialog" aria-label={`Revoke ${device.name}`}>
      <h3>Revoke {device.name}</h3>
      <p>
        This ends the session of {device.display_name} on {device.name} at once: its next call is refused and it goes to the sign-in screen. Signing in on it again needs {device.display_name}'s password; to keep {device.display_name} out altogether, also disable them or reset their password.
      </p>
      {device.unsynced ? (
        <p className="warning-box">
          ⚠ At its last report it held {device.unsynced} change{device.unsynced === 1 ? "" : "s"} not yet synced. They stay on that device; this list keeps showing them.
        </p>
      ) : null}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button
          className="danger"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await api.revokeDevice({ device_id: device.device_id });
              onDone(`${device.name} is revoked.`);
            } catch (err) {
              setError(errorText(err));
            } finally {
              setBusy(false);
            }
          }}
        >
          Revoke the device
        </button>
        <button className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
