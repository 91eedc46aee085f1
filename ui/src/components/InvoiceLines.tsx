// An invoice's lines as a table a person reads (description, quantity, unit price, amount, money
// right-aligned in the invoice's currency), and a totals conflict as one table of both versions,
// line by line, with the lines that differ marked and a way to settle it from the table: take the
// held version, or pick each line and the tax and save the merged totals. Every amount comes from
// the command layer, computed by the core's rule (`core::invoice`); nothing is added up here.
import { useEffect, useMemo, useState } from "react";
import { api, errorText } from "../api";
import type { HeldVersion } from "../bindings/HeldVersion";
import type { LineRow } from "../bindings/LineRow";
import type { LineView } from "../bindings/LineView";
import type { ReviewCard } from "../bindings/ReviewCard";
import type { TotalsComparison } from "../bindings/TotalsComparison";
import type { TotalsPreview } from "../bindings/TotalsPreview";
import type { TotalsView } from "../bindings/TotalsView";
import { provenance } from "./Side";

/** An amount in the invoice's currency as the person's locale writes it ("£1,234.50"); a code
 * the browser does not know is written after the number. */
export function formatMoney(n: number | null | undefined, currency: string): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "XXX" }).format(n);
  } catch {
    return `${n.toFixed(2)} ${currency}`.trim();
  }
}

/** A quantity as the locale writes a number: "1.5", "2". */
export function formatQuantity(n: number): string {
  return new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 }).format(n);
}

// Inline, as the other small tables of the review card are: the page's stylesheet is shared.
const pad = { padding: "4px 8px", borderBottom: "1px solid #e3e8ef", textAlign: "left" as const, verticalAlign: "top" as const };
/** Money and quantities: right-aligned, figures in columns. */
const num = { ...pad, textAlign: "right" as const, fontVariantNumeric: "tabular-nums" as const, whiteSpace: "nowrap" as const };
/** A cell whose value differs between the two versions. */
const diff = { background: "#fff3c4" };
/** The first column of the held version's side: a rule between the two versions. */
const split = { borderLeft: "2px solid #cfd6df" };
const tableStyle = { borderCollapse: "collapse" as const, width: "100%", fontSize: 13, background: "white" };

/** One version's lines with its subtotal, tax and total. */
export function LinesTable({ totals, caption }: { totals: TotalsView; caption?: string }) {
  const c = totals.currency;
  return (
    <table className="lines invoice-lines" data-testid="invoice-lines" style={tableStyle}>
      {caption && <caption className="muted small">{caption}</caption>}
      <thead>
        <tr>
          <th scope="col" style={pad}>Description</th>
          <th scope="col" style={num}>Quantity</th>
          <th scope="col" style={num}>Unit price</th>
          <th scope="col" style={num}>Amount</th>
        </tr>
      </thead>
      <tbody>
        {totals.lines.length === 0 && (
          <tr>
            <td colSpan={4} className="muted" style={pad}>
              {totals.problem ?? "No lines."}
            </td>
          </tr>
        )}
        {totals.lines.map((l, i) => (
          <tr key={i}>
            <td style={{ ...pad, overflowWrap: "anywhere" }}>{l.description || "—"}</td>
            <td style={num}>{formatQuantity(l.quantity)}</td>
            <td style={num}>{formatMoney(l.unit_price, c)}</td>
            <td style={num}>{formatMoney(l.amount, c)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row" colSpan={3} style={num}>Subtotal</th>
          <td style={num} data-testid="subtotal">{formatMoney(totals.subtotal, c)}</td>
        </tr>
        <tr>
          <th scope="row" colSpan={3} style={num}>
            Tax{totals.tax_rate !== null ? ` (${formatQuantity(totals.tax_rate)} %)` : ""}
          </th>
          <td style={num} data-testid="tax">{formatMoney(totals.tax, c)}</td>
        </tr>
        <tr className="grand">
          <th scope="row" colSpan={3} style={num}>Total</th>
          <td style={{ ...num, fontWeight: 700 }} data-testid="total">{formatMoney(totals.total, c)}</td>
        </tr>
      </tfoot>
    </table>
  );
}

const WHAT: Record<string, string> = {
  description: "description",
  quantity: "quantity",
  unit_price: "unit price",
  amount: "amount",
  added: "only in this version",
  removed: "only in current",
};

/** Which side of a line (or of the tax) the merge takes. */
type Pick = "current" | "incoming";

/** A tax the merge may use: one side's amount, or one side's rate of the merged subtotal. */
type TaxChoice = { key: string; label: string; tax: { kind: "amount"; amount: string } | { kind: "rate"; percent: string } };

function taxChoices(current: TotalsView, incoming: TotalsView): TaxChoice[] {
  const out: TaxChoice[] = [];
  const add = (key: string, label: string, tax: TaxChoice["tax"]) => {
    if (!out.some((o) => JSON.stringify(o.tax) === JSON.stringify(tax))) out.push({ key, label, tax });
  };
  if (current.tax_rate !== null) add("current-rate", `${formatQuantity(current.tax_rate)} % of the merged subtotal (current's rate)`, { kind: "rate", percent: String(current.tax_rate) });
  if (incoming.tax_rate !== null) add("incoming-rate", `${formatQuantity(incoming.tax_rate)} % of the merged subtotal (this version's rate)`, { kind: "rate", percent: String(incoming.tax_rate) });
  add("current-amount", `${formatMoney(current.tax, current.currency)} (current's tax)`, { kind: "amount", amount: String(current.tax ?? 0) });
  add("incoming-amount", `${formatMoney(incoming.tax, incoming.currency)} (this version's tax)`, { kind: "amount", amount: String(incoming.tax ?? 0) });
  return out;
}

const asInput = (l: LineView) => ({ description: l.description, quantity: String(l.quantity), unit_price: String(l.unit_price) });

/**
 * A totals conflict's card: for each held version, one table of current and that version line by
 * line (the lines that differ marked, and what differs named), their totals beneath, and the
 * ways to settle it from the table. `onTake` takes the held version whole; `onMerge` saves the
 * totals the person picked (each differing line from one side, and a tax), computed by the core.
 */
export function TotalsConflict({
  card,
  onTake,
  onMerge,
}: {
  card: ReviewCard;
  onTake: (held: HeldVersion) => void;
  onMerge: (values: Record<string, unknown>) => Promise<unknown>;
}) {
  const [compared, setCompared] = useState<TotalsComparison | null>(null);
  const [error, setError] = useState<string | null>(null);
  const shown = JSON.stringify([card.current?.values, card.held.map((h) => h.incoming.values)]);
  useEffect(() => {
    api
      .compareTotals({ current: card.current?.values ?? {}, incoming: card.held.map((h) => h.incoming.values) })
      .then((c) => {
        setCompared(c);
        setError(null);
      })
      .catch((e) => setError(errorText(e)));
  }, [shown]);
  if (error) return <p className="error">{error}</p>;
  if (!compared) return <p className="muted small">Reading the lines…</p>;
  return (
    <div className="totals-conflict" data-testid="totals-conflict">
      {card.held.map((held, i) => (
        <VersionTable
          key={held.review_id}
          card={card}
          held={held}
          index={i}
          current={compared.current}
          version={compared.versions[i]}
          onTake={() => onTake(held)}
          onMerge={onMerge}
        />
      ))}
    </div>
  );
}

function VersionTable({
  card,
  held,
  index,
  current,
  version,
  onTake,
  onMerge,
}: {
  card: ReviewCard;
  held: HeldVersion;
  index: number;
  current: TotalsView;
  version: TotalsComparison["versions"][number] | undefined;
  onTake: () => void;
  onMerge: (values: Record<string, unknown>) => Promise<unknown>;
}) {
  const [picks, setPicks] = useState<Record<number, Pick>>({});
  const choices = useMemo(() => (version ? taxChoices(current, version.totals) : []), [current, version]);
  // Current's rate when it has one (the merged lines' subtotal taxed as before), else its amount.
  const [tax, setTax] = useState<string | null>(null);
  const [merged, setMerged] = useState<TotalsPreview | null>(null);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const rows: LineRow[] = version?.rows ?? [];
  const pickOf = (r: LineRow): Pick => picks[r.position] ?? "current";
  const taxChoice = choices.find((c) => c.key === tax) ?? choices[0];
  const currency = current.currency || version?.totals.currency || "";
  // The merged totals as the core computes them, read again whenever a pick changes.
  useEffect(() => {
    if (!version || !taxChoice) return;
    const lines = rows.flatMap((r) => {
      const line = pickOf(r) === "current" ? r.current : r.incoming;
      return line ? [asInput(line)] : [];
    });
    let live = true;
    api
      .invoiceTotals({ lines, tax: taxChoice.tax, currency })
      .then((p) => live && setMerged(p))
      .catch((e) => live && setError(errorText(e)));
    return () => {
      live = false;
    };
  }, [JSON.stringify(picks), tax, version]);
  if (!version) return null;
  const c = currency;
  const canResolve = held.can_resolve && card.can_resolve;
  const title = `Incoming${card.held.length > 1 ? ` ${index + 1} of ${card.held.length}` : ""} · ${provenance(held.incoming)}`;
  const differs = (field: string) => version.differing.includes(field);
  const cell = (line: LineView | null, field: keyof LineView, changed: boolean, first = false) => (
    <td style={{ ...(field === "description" ? pad : num), ...(changed ? diff : {}), ...(first ? split : {}) }} className={changed ? "diff" : undefined}>
      {line === null ? <span className="muted">—</span> : field === "description" ? line.description || "—" : field === "quantity" ? formatQuantity(line.quantity) : formatMoney(line[field] as number, c)}
    </td>
  );
  const save = async () => {
    if (!merged?.values) return;
    setSaving(true);
    try {
      await onMerge(merged.values);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setSaving(false);
    }
  };
  return (
    <section className="side" data-testid="held-version" aria-label={title}>
      <h4>{title}</h4>
      <p className="muted small" data-testid="provenance">
        Current: {card.current ? provenance(card.current) : "—"}
      </p>
      <div style={{ overflowX: "auto" }}>
        <table className="lines invoice-lines conflict-lines" data-testid="invoice-lines" style={tableStyle}>
          <thead>
            <tr>
              <th scope="col" rowSpan={2} style={num}>Line</th>
              <th scope="colgroup" colSpan={4} style={pad}>Current (as it stands now)</th>
              <th scope="colgroup" colSpan={4} style={{ ...pad, ...split }}>This version</th>
              <th scope="col" rowSpan={2} style={pad}>Differs</th>
              {canResolve && <th scope="col" rowSpan={2} style={pad}>Merge takes</th>}
            </tr>
            <tr>
              <th scope="col" style={pad}>Description</th>
              <th scope="col" style={num}>Quantity</th>
              <th scope="col" style={num}>Unit price</th>
              <th scope="col" style={num}>Amount</th>
              <th scope="col" style={{ ...pad, ...split }}>Description</th>
              <th scope="col" style={num}>Quantity</th>
              <th scope="col" style={num}>Unit price</th>
              <th scope="col" style={num}>Amount</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const changed = r.differs.length > 0;
              const has = (f: string) => r.differs.includes(f) || r.differs.includes("added") || r.differs.includes("removed");
              return (
                <tr key={r.position} className={changed ? "line-differs" : undefined} data-differs={changed ? r.differs.join(" ") : undefined} data-testid="line-row">
                  <th scope="row" style={num}>{r.position}</th>
                  {cell(r.current, "description", has("description"))}
                  {cell(r.current, "quantity", has("quantity"))}
                  {cell(r.current, "unit_price", has("unit_price"))}
                  {cell(r.current, "amount", has("amount"))}
                  {cell(r.incoming, "description", has("description"), true)}
                  {cell(r.incoming, "quantity", has("quantity"))}
                  {cell(r.incoming, "unit_price", has("unit_price"))}
                  {cell(r.incoming, "amount", has("amount"))}
                  <td className="small" style={pad}>{changed ? r.differs.map((d) => WHAT[d] ?? d).join(", ") : <span className="muted">same</span>}</td>
                  {canResolve && (
                    <td className="small" style={{ ...pad, whiteSpace: "nowrap" }}>
                      {changed ? (
                        (["current", "incoming"] as Pick[]).map((side) => (
                          <label key={side} style={{ marginRight: 8 }}>
                            <input
                              type="radio"
                              name={`${held.review_id}-line-${r.position}`}
                              checked={pickOf(r) === side}
                              onChange={() => setPicks((p) => ({ ...p, [r.position]: side }))}
                              aria-label={`Line ${r.position}: ${side === "current" ? "current" : "this version"}`}
                            />{" "}
                            {side === "current" ? (r.current ? "current" : "leave out") : r.incoming ? "this version" : "leave out"}
                          </label>
                        ))
                      ) : (
                        <span className="muted">either</span>
                      )}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
          <tfoot>
            {(["subtotal", "tax", "total"] as const).map((f) => (
              <tr key={f} className={differs(f) ? "line-differs" : undefined} data-testid={`totals-${f}`}>
                <th scope="row" colSpan={4} style={num}>
                  {f === "subtotal" ? "Subtotal" : f === "tax" ? `Tax${current.tax_rate !== null ? ` (${formatQuantity(current.tax_rate)} %)` : ""}` : "Total"}
                </th>
                <td style={{ ...num, fontWeight: f === "total" ? 700 : undefined, ...(differs(f) ? diff : {}) }} className={differs(f) ? "diff" : undefined}>
                  {formatMoney(current[f], c)}
                </td>
                <td colSpan={3} style={{ ...num, ...split }} className="muted small">
                  {f === "tax" && version.totals.tax_rate !== null ? `${formatQuantity(version.totals.tax_rate)} %` : ""}
                </td>
                <td style={{ ...num, fontWeight: f === "total" ? 700 : undefined, ...(differs(f) ? diff : {}) }} className={differs(f) ? "diff" : undefined}>
                  {formatMoney(version.totals[f], version.totals.currency || c)}
                </td>
                <td className="small" style={pad}>{differs(f) ? "differs" : <span className="muted">same</span>}</td>
                {canResolve && <td style={pad} />}
              </tr>
            ))}
          </tfoot>
        </table>
      </div>
      {canResolve && (
        <div className="merge-from-table" data-testid="merge-from-table">
          <div className="actions">
            <button className="secondary" onClick={onTake} aria-label={`Take this version (${provenance(held.incoming)})`}>
              Take this version
            </button>
          </div>
          <fieldset className="tax-choice">
            <legend>Merged tax</legend>
            {choices.map((choice) => (
              <label key={choice.key} style={{ display: "block" }}>
                <input type="radio" name={`${held.review_id}-tax`} checked={taxChoice?.key === choice.key} onChange={() => setTax(choice.key)} /> {choice.label}
              </label>
            ))}
          </fieldset>
          <p data-testid="merged-totals" style={{ margin: "6px 0" }}>
            Merged from the table:{" "}
            {merged && merged.total !== null ? (
              <>
                subtotal <strong>{formatMoney(merged.subtotal, c)}</strong> · tax <strong>{formatMoney(merged.tax, c)}</strong> · total <strong>{formatMoney(merged.total, c)}</strong>
              </>
            ) : (
              <span className="error">{merged?.problems[0]?.message ?? "…"}</span>
            )}
          </p>
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <div className="actions">
            <button onClick={save} disabled={saving || !merged?.values}>
              {saving ? "Saving…" : "Save merged from the table"}
            </button>
          </div>
        </div>
      )}
    </section>
  );
}
