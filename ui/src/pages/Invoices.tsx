// Finance's invoices page: every invoice with its number, job (a link to it), customer, state,
// total in its currency, sync state and whether its totals wait for review; a filter by state;
// a new invoice from a job; the list as CSV through the app's save path (the system's save dialog
// in the desktop window, the app's exports folder in a browser). An invoice opens in its panel.
import { isTauri } from "@tauri-apps/api/core";
import { save } from "@tauri-apps/plugin-dialog";
import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { InvoiceCard } from "../bindings/InvoiceCard";
import type { InvoiceJob } from "../bindings/InvoiceJob";
import type { State } from "../bindings/State";
import { formatMoney } from "../components/InvoiceLines";
import { pretty } from "../format";
import { Invoice } from "./Invoice";

/** `states`: every invoice state in lifecycle order, from the session (the command layer names them). */
export function Invoices({ states, refreshKey, onReview, onOpenJob }: { states: State[]; refreshKey: number; onReview: () => void; onOpenJob?: (jobId: string) => void }) {
  const [invoices, setInvoices] = useState<InvoiceCard[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [state, setState] = useState<State | "">("");
  const [selected, setSelected] = useState<string | null>(null);
  const [picking, setPicking] = useState(false);
  const [jobs, setJobs] = useState<InvoiceJob[]>([]);
  const [jobId, setJobId] = useState("");
  const [newFrom, setNewFrom] = useState<InvoiceJob | null>(null);
  const [exported, setExported] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    api
      .invoices()
      .then((list) => {
        setInvoices(list);
        setError(null);
      })
      .catch((e) => setError(errorText(e)));
  }, [refreshKey, tick]);
  const shown = invoices.filter((i) => state === "" || i.state === state);
  const startNew = async () => {
    setPicking(true);
    try {
      const list = await api.invoiceJobs();
      setJobs(list);
      setJobId(list[0]?.id ?? "");
    } catch (e) {
      setError(errorText(e));
    }
  };
  const exportCsv = async () => {
    setExporting(true);
    setError(null);
    try {
      const filter = state === "" ? null : state;
      const place = await api.invoiceExport({ state: filter });
      // In the desktop window, the system's save dialog opens where the app says (Downloads,
      // with the day's file name); a browser has no dialog: the app's exports folder.
      let path: string | null | undefined = undefined;
      if (isTauri()) {
        path = await save({ defaultPath: place.export_path ?? place.filename, filters: [{ name: "CSV", extensions: ["csv"] }] });
        if (path === null) return;
      }
      const saved = await api.saveInvoicesCsv({ state: filter, path: path ?? null });
      setExported(`${saved.rows} invoice${saved.rows === 1 ? "" : "s"} saved to ${saved.path}`);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setExporting(false);
    }
  };
  return (
    <>
      <section data-testid="invoices" aria-labelledby="invoices-title">
        <h2 id="invoices-title">Invoices</h2>
        <div className="toolbar">
          <label>
            State{" "}
            <select aria-label="Filter by state" value={state} onChange={(e) => setState(e.target.value as State | "")}>
              <option value="">All</option>
              {states.map((s) => (
                <option key={s} value={s}>
                  {pretty(s)}
                </option>
              ))}
            </select>
          </label>
          <button onClick={startNew}>New invoice…</button>
          <button className="secondary" onClick={exportCsv} disabled={exporting}>
            {exporting ? "Exporting…" : "Export CSV"}
          </button>
        </div>
        {picking && (
          <div className="dialog" role="dialog" aria-labelledby="pick-title" data-testid="pick-job">
            <h3 id="pick-title">New invoice from a job</h3>
            <label>
              Job
              <select aria-label="Job to invoice" value={jobId} onChange={(e) => setJobId(e.target.value)}>
                {jobs.map((j) => (
                  <option key={j.id} value={j.id}>
                    {j.number ?? "New job"} · {j.customer} · {j.summary || j.site} · {pretty(j.state)}
                    {j.invoiced.length ? ` · has ${j.invoiced.join(", ")}` : ""}
                  </option>
                ))}
              </select>
            </label>
            <div className="actions">
              <button
                disabled={!jobId}
                onClick={() => {
                  setNewFrom(jobs.find((j) => j.id === jobId) ?? null);
                  setSelected(null);
                  setPicking(false);
                }}
              >
                Start the invoice
              </button>
              <button className="secondary" onClick={() => setPicking(false)}>
                Cancel
              </button>
            </div>
          </div>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {exported && (
          <p className="muted small" role="status" data-testid="exported">
            {exported}
          </p>
        )}
        <table className="board">
          <thead>
            <tr>
              <th scope="col">Invoice</th>
              <th scope="col">Job</th>
              <th scope="col">Customer</th>
              <th scope="col">State</th>
              <th scope="col" style={{ textAlign: "right" }}>
                Total
              </th>
              <th scope="col">Sync</th>
            </tr>
          </thead>
          <tbody>
            {shown.length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  {state ? `No ${pretty(state).toLowerCase()} invoices.` : "No invoices yet."}
                </td>
              </tr>
            )}
            {shown.map((i) => (
              <tr key={i.id} className={`${i.under_review ? "under-review" : ""}${selected === i.id ? " selected" : ""}`} data-testid="invoice-row" data-state={i.state}>
                <td style={{ whiteSpace: "nowrap" }}>
                  <button className="link" style={{ paddingLeft: 0, fontWeight: 700 }} onClick={() => { setNewFrom(null); setSelected(i.id); }} aria-label={`Open invoice ${i.number ?? "new"}`}>
                    {i.number ?? "New invoice"}
                  </button>
                  {i.totals_locked && (
                    <span className="muted small" title="Its lines and totals are locked">
                      {" "}
                      locked
                    </span>
                  )}
                </td>
                <td style={{ whiteSpace: "nowrap" }}>
                  {i.job_id && onOpenJob ? (
                    <button className="link" style={{ paddingLeft: 0 }} onClick={() => onOpenJob(i.job_id!)}>
                      {i.job_number ?? "New job"}
                    </button>
                  ) : (
                    (i.job_number ?? "—")
                  )}
                </td>
                <td>{i.customer ?? "—"}</td>
                <td>
                  <span className={`pill invoice-${i.state}`}>{pretty(i.state)}</span>
                </td>
                <td style={{ textAlign: "right", fontVariantNumeric: "tabular-nums", whiteSpace: "nowrap" }}>
                  {/* The amount in its currency, then its code: two currencies with one symbol
                      ($) are told apart, and the list reads the same in any locale. */}
                  <span data-testid="invoice-total">{formatMoney(i.total, i.currency)}</span> <span className="muted small">{i.currency}</span>
                  {i.under_review && (
                    <div>
                      <button className="secondary" onClick={onReview}>
                        Totals under review: resolve
                      </button>
                    </div>
                  )}
                </td>
                <td className={`small sync sync-${i.sync_level}`}>{i.sync_label}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {(selected || newFrom) && (
        <Invoice
          invoiceId={selected}
          newFrom={newFrom}
          refreshKey={refreshKey + tick}
          onClose={() => {
            setSelected(null);
            setNewFrom(null);
          }}
          onCreated={(id) => {
            setNewFrom(null);
            setSelected(id);
            setTick((t) => t + 1);
          }}
          onOpenJob={onOpenJob}
          onReview={onReview}
        />
      )}
    </>
  );
}
