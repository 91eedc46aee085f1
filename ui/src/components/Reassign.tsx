// The reassign dialog: who holds the job now, whether their device still has unsynced work, and
// the new owner.
import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { JobDetail } from "../bindings/JobDetail";
import type { ReassignCheck } from "../bindings/ReassignCheck";
import type { Reassigned } from "../bindings/Reassigned";

/** The reassign dialog: who holds the job now, whether their device still has unsynced work, and the new owner. */
export function Reassign({ job, onDone }: { job: JobDetail; onDone: (done: Reassigned | null) => void }) {
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
      {check.warning && (
        <p className="warning-box" data-testid="reassign-warning">
          ⚠ {check.warning}. Work on that device will be held for review when it syncs.
        </p>
      )}
      <label>
        New owner
        <select value={to} onChange={(e) => setTo(e.target.value)} aria-label="New owner" autoFocus>
          <option value="">Choose…</option>
          {check.candidates.map((c) => (
            <option key={c.name} value={c.name}>
              {c.display_name} {c.team ? `(${c.team})` : ""}
            </option>
          ))}
        </select>
      </label>
      <p className="muted small">
        The new owner's devices get the job at their next sync; {check.current_owner.display_name}'s device learns it is no longer theirs, and anything
        it sends for the job after that waits in the review inbox.
      </p>
      <label>
        Why does it move?
        <input value={reason} onChange={(e) => setReason(e.target.value)} aria-label="Reason for reassigning" />
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
              onDone(await api.reassign({ job_id: job.card.id, to_user: to, owner_epoch: check.owner_epoch, reason: reason.trim() }));
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
