// One side of a review card (base, current or incoming): its values, who saved them, where and when.
import type { SideView } from "../bindings/SideView";
import { when } from "../format";
import { Values } from "./Values";

export function Side({ title, side, highlight }: { title: string; side: SideView | null; highlight: string[] }) {
  return (
    <div className="side">
      <h4>{title}</h4>
      {side ? (
        <>
          <Values values={side.values} highlight={highlight} />
          <div className="muted small">
            {side.who ?? "unknown"} · {side.device ?? "unknown device"} · {when(side.when)}
          </div>
        </>
      ) : (
        <div className="muted small">—</div>
      )}
    </div>
  );
}
