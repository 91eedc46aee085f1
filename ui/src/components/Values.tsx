// A field group's values as a person reads them, nested groups included.
import { HIDDEN, lineRows, pretty, show, windowText } from "../format";

/** A field's name as a page for people says it (the `plain` view); others read as their name. */
const LABELS: Record<string, string> = {
  site_address: "Site address",
  labour_hours: "Labour hours",
  completed_at: "Completed",
  signer: "Signed by",
  signed_at: "Signed at",
  billing_contact: "Billing contact",
  billing_email: "Billing email",
  state: "Status",
  window_start: "Window start",
  window_end: "Window end",
  part_number: "Part number",
};

const plainLabel = (k: string) => LABELS[k] ?? pretty(k).replace(/^./, (c) => c.toUpperCase());

/**
 * A group's values as a definition list; `highlight` marks the fields that differ. `plain` is
 * the view of a page for people (the job and customer pages): labels in words, a job's window
 * as one "When" row with its day and time range in the person's zone, and the fields in `hide`
 * left out (a job's assignee: its owner is shown with their device above).
 */
export function Values({
  values,
  highlight = [],
  order = [],
  plain = false,
  hide = [],
}: {
  values: Record<string, unknown>;
  highlight?: string[];
  order?: string[];
  plain?: boolean;
  hide?: string[];
}) {
  // In the group's own field order (a window's start before its end), not the alphabet the
  // values arrive in; fields the order does not name come after, as they came.
  const rank = (k: string) => (order.indexOf(k) === -1 ? order.length : order.indexOf(k));
  const shown = values ?? {};
  const windowed = plain && ("window_start" in shown || "window_end" in shown);
  const entries = Object.entries(shown)
    .filter(([k]) => !HIDDEN.has(k) && !hide.includes(k) && !(windowed && k === "window_end"))
    .sort(([a], [b]) => rank(a) - rank(b));
  if (entries.length === 0) return <div className="muted small">empty</div>;
  return (
    <dl className="values">
      {entries.map(([k, v]) =>
        windowed && k === "window_start" ? (
          <div key={k} className={highlight.includes(k) || highlight.includes("window_end") ? "diff" : ""} data-testid="window">
            <dt>When</dt>
            <dd>{windowText(typeof v === "string" ? v : null, typeof shown.window_end === "string" ? shown.window_end : null)}</dd>
          </div>
        ) : (
        <div key={k} className={highlight.includes(k) ? "diff" : ""}>
          <dt>{plainLabel(k)}</dt>
          <dd>
            {k === "lines" && Array.isArray(v) ? (
              <Lines lines={v} />
            ) : v && typeof v === "object" && !Array.isArray(v) ? (
              <Values values={v as Record<string, unknown>} />
            ) : (
              show(v)
            )}
          </dd>
        </div>
        ),
      )}
    </dl>
  );
}

/** An invoice's lines as a small table a person reads (what, how many, at what price, the
 * line's amount), not the JSON they are stored as. */
function Lines({ lines }: { lines: unknown[] }) {
  if (lines.length === 0) return <span className="muted">no lines</span>;
  const rows = lineRows(lines);
  const amount = (r: { quantity: string; unit_price: string }) => {
    const n = Number(r.quantity) * Number(r.unit_price);
    return Number.isFinite(n) ? n.toFixed(2) : "—";
  };
  return (
    <table className="lines" data-testid="invoice-lines" style={{ borderCollapse: "collapse", fontSize: 13 }}>
      <thead>
        <tr>
          <th scope="col" style={{ textAlign: "left", paddingRight: 12 }}>Description</th>
          <th scope="col" style={{ textAlign: "right", paddingRight: 12 }}>Quantity</th>
          <th scope="col" style={{ textAlign: "right", paddingRight: 12 }}>Unit price</th>
          <th scope="col" style={{ textAlign: "right" }}>Amount</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>
            <td style={{ paddingRight: 12 }}>{r.description || "—"}</td>
            <td style={{ textAlign: "right", paddingRight: 12 }}>{r.quantity || "—"}</td>
            <td style={{ textAlign: "right", paddingRight: 12 }}>{r.unit_price || "—"}</td>
            <td style={{ textAlign: "right" }}>{amount(r)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
