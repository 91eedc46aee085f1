// The reassign dialog: who holds the job now, whether their device still has unsynced work, and
// the new owner (a technician or a team, each with their devices' health; never a typed name).
// Its pieces (the owner's label, the warning, the choice of owner) are shared with the schedule
// board's Move dialog and the new job form.
import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { OwnerView } from "../bindings/OwnerView";
import type { ReassignCheck } from "../bindings/ReassignCheck";
import type { Reassigned } from "../bindings/Reassigned";
import { when } from "../format";

/** "Tom Baker (north) — Tom's tablet, 3 unsynced, seen 2 h ago": who, and how their device is.
 * For a team: "North team — 2 technicians, 4 unsynced, seen 5 min ago". */
export function ownerLabel(p: OwnerView): string {
  const unsynced = Number(p.unsynced ?? 0);
  const device = [p.device, unsynced ? `${unsynced} unsynced` : null, p.last_seen ? `seen ${when(p.last_seen)}` : null].filter(Boolean).join(", ");
  const team = p.kind === "user" && p.team ? ` (${p.team})` : "";
  return `${p.display_name}${team}${device ? ` — ${device}` : ""}`;
}

/** The value an owner has in a select: a technician's user name (as it always was), or
 * `team:NAME` for a team (a user name has no colon). */
export const ownerKey = (p: { kind: string; name: string }) => (p.kind === "team" ? `team:${p.name}` : p.name);

/** A select's value as the reassignment's target. */
export function targetOf(key: string): { to_user: string; to_team: string | null } {
  return key.startsWith("team:") ? { to_user: "", to_team: key.slice(5) } : { to_user: key, to_team: null };
}

/** The technicians and then the teams, as a select's options. */
export function OwnerOptions({ people, teams }: { people: OwnerView[]; teams: OwnerView[] }) {
  return (
    <>
      {people.length > 0 && (
        <optgroup label="Technicians">
          {people.map((c) => (
            <option key={ownerKey(c)} value={ownerKey(c)}>
              {ownerLabel(c)}
            </option>
          ))}
        </optgroup>
      )}
      {teams.length > 0 && (
        <optgroup label="Teams (anyone in the team takes it)">
          {teams.map((c) => (
            <option key={ownerKey(c)} value={ownerKey(c)}>
              {ownerLabel(c)}
            </option>
          ))}
        </optgroup>
      )}
    </>
  );
}

/** The current owner's device warning, in the words the schedule board uses too. */
export function OwnerWarning({ warning }: { warning: string | null }) {
  if (!warning) return null;
  return (
    <p className="warning-box" data-testid="reassign-warning">
      ⚠ {warning}. Work on that device will be held for review when it syncs.
    </p>
  );
}

/** The reassign dialog: who holds the job now, whether their device still has unsynced work, and the new owner. */
export function Reassign({ job, onDone }: { job: { card: { id: string; number: string | null } }; onDone: (done: Reassigned | null) => void }) {
  const [check, setCheck] = useState<ReassignCheck | null>(null);
  const [to, setTo] = useState("");
  const [reason, setReason] = useState("");
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.reassignCheck(job.card.id).then(setCheck).catch((e) => setError(errorText(e)));
  }, [job.card.id]);
  if (!check) return <p className="muted">{error ?? "Checking the current owner's device…"}</p>;
  return (
    <div className="dialog" role="dialog" aria-label="Reassign job">
      <h3>Reassign {job.card.number}</h3>
      <p>
        Now with <strong>{check.current_owner.display_name}</strong>.
      </p>
      <OwnerWarning warning={check.warning} />
      <label>
        New owner
        <select value={to} onChange={(e) => setTo(e.target.value)} aria-label="New owner" autoFocus>
          <option value="">Choose…</option>
          <OwnerOptions people={check.candidates} teams={check.teams} />
        </select>
      </label>
      <p className="muted small">
        The new owner's devices get the job at their next sync; {check.current_owner.display_name}'s device learns it is no longer theirs, and anything
        it sends for the job after that waits in the review inbox.
      </p>
      <label>
        Why does it move?
        <input name="reason" value={reason} onChange={(e) => setReason(e.target.value)} />
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button
          disabled={!to || !reason.trim() || saving}
          onClick={async () => {
            setSaving(true);
            try {
              // The warning above was about this ownership epoch: if the job changed hands
              // since, the command layer refuses, and the dialog shows the new picture.
              onDone(await api.reassign({ job_id: job.card.id, ...targetOf(to), owner_epoch: check.owner_epoch, reason: reason.trim() }));
            } catch (e) {
              setError(errorText(e));
              api.reassignCheck(job.card.id).then(setCheck).catch(() => undefined);
            } finally {
              setSaving(false);
            }
          }}
        >
          Reassign
        </button>
        <button className="secondary" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </div>
  );
}
