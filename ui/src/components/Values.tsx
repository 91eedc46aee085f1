// A field group's values as a person reads them, nested groups included.
import { HIDDEN, pretty, show } from "../format";

/** A group's values as a definition list; `highlight` marks the fields that differ. */
export function Values({ values, highlight = [] }: { values: Record<string, unknown>; highlight?: string[] }) {
  const entries = Object.entries(values ?? {}).filter(([k]) => !HIDDEN.has(k));
  if (entries.length === 0) return <div className="muted small">empty</div>;
  return (
    <dl className="values">
      {entries.map(([k, v]) => (
        <div key={k} className={highlight.includes(k) ? "diff" : ""}>
          <dt>{pretty(k)}</dt>
          <dd>{v && typeof v === "object" && !Array.isArray(v) ? <Values values={v as Record<string, unknown>} /> : show(v)}</dd>
        </div>
      ))}
    </dl>
  );
}
