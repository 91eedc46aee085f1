// Who holds a record: the owner's name and team, their device, when it was last seen and how
// much it has not synced yet. Shown on the board and in the job detail.
import type { OwnerView } from "../bindings/OwnerView";
import { when } from "../format";

export function Owner({ owner }: { owner: OwnerView }) {
  return (
    <div className="owner">
      <strong>{owner.display_name}</strong>
      {owner.team && <span className="muted"> · {owner.team}</span>}
      <div className="muted small">
        {owner.device ?? "no device yet"}
        {owner.last_seen && <> · seen {when(owner.last_seen)}</>}
        {owner.unsynced ? <span className="warn"> · {owner.unsynced} unsynced</span> : null}
      </div>
    </div>
  );
}
