// One side of a review card (base, current or a held version): its values, who saved them, on
// which device and when. Only what the server knows is said: no "unknown device" filler, which
// read as if something were wrong with the device.
import type { SideView } from "../bindings/SideView";
import { when } from "../format";
import { Values } from "./Values";

/** Who, on which device, when: the parts that are known, joined. */
export function provenance(side: SideView): string {
  const parts = [side.who, side.device, side.when ? when(side.when) : null].filter((p): p is string => !!p);
  return parts.length ? parts.join(" · ") : "not recorded";
}

export function Side({ title, side, highlight }: { title: string; side: SideView | null; highlight: string[] }) {
  return (
    <div className="side">
      <h4>{title}</h4>
      {side ? (
        <>
          <Values values={side.values} highlight={highlight} />
          <div className="muted small" data-testid="provenance">
            {provenance(side)}
          </div>
        </>
      ) : (
        <div className="muted small">—</div>
      )}
    </div>
  );
}
