// One invoice's panel beside the invoice list: its job and customer, state and sync state; while
// it is a draft, its lines, tax and currency as a form whose totals the core computes as the person
// types; sending it (its totals lock), marking it paid, voiding it with a reason. A sent, paid or
// void invoice shows its lines read-only and says why it cannot change. A new invoice from a job
// opens here too, with the lines the job suggests.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, errorText } from "../api";
import type { InvoiceDetail } from "../bindings/InvoiceDetail";
import type { InvoiceForm } from "../bindings/InvoiceForm";
import type { InvoiceJob } from "../bindings/InvoiceJob";
import type { TotalsPreview } from "../bindings/TotalsPreview";
import { formatMoney, LinesTable } from "../components/InvoiceLines";
import { pretty } from "../format";
import { useEscape } from "../useEscape";

const blankLine = () => ({ description: "", quantity: "1", unit_price: "" });

export function Invoice({
  invoiceId,
  newFrom,
  refreshKey,
  onClose,
  onCreated,
  onOpenJob,
  onReview,
}: {
  invoiceId: string | null;
  /** A new invoice for this job (no invoice id yet). */
  newFrom?: InvoiceJob | null;
  refreshKey: number;
  onClose: () => void;
  onCreated: (invoiceId: string) => void;
  onOpenJob?: (jobId: string) => void;
  onReview?: () => void;
}) {
  const [detail, setDetail] = useState<InvoiceDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const [sending, setSending] = useState(false);
  const [voiding, setVoiding] = useState(false);
  const [paying, setPaying] = useState(false);
  const load = useCallback(async () => {
    if (!invoiceId) return;
    try {
      setDetail(await api.invoice(invoiceId));
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, [invoiceId]);
  useEffect(() => {
    void load();
  }, [load, refreshKey]);
  useEffect(() => {
    setEditing(false);
    setSending(false);
    setVoiding(false);
    setPaying(false);
    setNotice(null);
  }, [invoiceId]);
  useEscape(onClose);

  if (newFrom && !invoiceId) {
    return (
      <aside style={{ width: 540 }} className="detail invoice-detail" data-testid="invoice-detail" aria-label={`New invoice for ${newFrom.number ?? "the job"}`}>
        <button className="close secondary" onClick={onClose} aria-label="Close">
          ×
        </button>
        <h2>New invoice</h2>
        <p>
          For {newFrom.number ?? "a new job"} · {newFrom.customer} · {newFrom.site}
        </p>
        {newFrom.invoiced.length > 0 && <p className="warning-box">This job already has {newFrom.invoiced.join(", ")}.</p>}
        <TotalsForm
          initial={newFrom.suggested}
          currencies={["GBP", "EUR", "USD"]}
          submitLabel="Save draft invoice"
          onSubmit={async (form, actionId) => {
            const saved = await api.createInvoice({ job_id: newFrom.id, form, action_id: actionId });
            onCreated(saved.invoice_id);
          }}
          onCancel={onClose}
        />
      </aside>
    );
  }
  if (!detail) return <aside style={{ width: 540 }} className="detail invoice-detail">{error ?? "Loading…"}</aside>;
  const card = detail.card;
  const number = card.number ?? "New invoice";
  return (
    <aside style={{ width: 540 }} className="detail invoice-detail" data-testid="invoice-detail" aria-label={`Invoice ${number}`}>
      <button className="close secondary" onClick={onClose} aria-label="Close">
        ×
      </button>
      <h2>
        {number} <span className={`pill invoice-${card.state}`} data-testid="invoice-state">{pretty(card.state)}</span>
      </h2>
      <p>
        {card.job_id && onOpenJob ? (
          <button className="link" onClick={() => onOpenJob(card.job_id!)} style={{ paddingLeft: 0 }}>
            {card.job_number ?? "Its job"}
          </button>
        ) : (
          (card.job_number ?? "No job")
        )}
        {card.customer && ` · ${card.customer}`}
        {detail.job_summary && <span className="muted"> · {detail.job_summary}</span>}
      </p>
      <p className={`sync sync-${card.sync_level}`} data-testid="invoice-sync">
        {card.sync_label}
      </p>
      {card.under_review && (
        <p className="warning-box" data-testid="invoice-under-review">
          Its totals are under review: two versions wait for finance to choose.{" "}
          {onReview && (
            <button className="link" onClick={onReview}>
              Go to the review card
            </button>
          )}
        </p>
      )}
      {detail.locked_reason && !card.under_review && (
        <p className="notice" data-testid="invoice-locked">
          <strong>Locked.</strong> {detail.locked_reason}
        </p>
      )}
      {detail.void_reason && (
        <p data-testid="void-reason">
          <strong>Voided:</strong> {detail.void_reason}
        </p>
      )}
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {editing && detail.editable ? (
        <TotalsForm
          initial={detail.form}
          currencies={detail.currencies}
          submitLabel="Save draft"
          onSubmit={async (form, actionId) => {
            // On the version the form opened on: another desk's edit meanwhile goes to review.
            await api.saveInvoice({ invoice_id: detail.card.id, form, base_version: detail.totals_version, action_id: actionId });
            setEditing(false);
            setNotice("Saved.");
            await load();
          }}
          onCancel={() => setEditing(false)}
        />
      ) : (
        <>
          <LinesTable totals={detail.totals} />
          <div className="actions">
            {detail.editable && (
              <button className="secondary" onClick={() => setEditing(true)}>
                Edit lines and tax
              </button>
            )}
            {detail.can_send && !sending && <button onClick={() => setSending(true)}>Send…</button>}
            {detail.can_mark_paid && !paying && <button onClick={() => setPaying(true)}>Mark paid…</button>}
            {detail.can_void && !voiding && (
              <button className="secondary" onClick={() => setVoiding(true)}>
                Void…
              </button>
            )}
          </div>
        </>
      )}
      {sending && (
        <div className="dialog" role="dialog" aria-labelledby="send-title" data-testid="send-dialog">
          <h3 id="send-title">Send {number}?</h3>
          <p style={{ margin: 0 }}>
            {card.customer ?? "The customer"} is invoiced {formatMoney(card.total, card.currency)}. Once sent, its lines and totals are locked: a correction is a void and a new
            invoice.
          </p>
          <div className="actions">
            <button
              onClick={async () => {
                try {
                  await api.setInvoiceStatus({ invoice_id: card.id, state: detail.send_to, base_version: detail.status_version });
                  setSending(false);
                  // No notice: the state, the sync line and the locked box already say it is sent.
                  await load();
                } catch (e) {
                  setError(errorText(e));
                }
              }}
            >
              Send {number}
            </button>
            <button className="secondary" onClick={() => setSending(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {voiding && (
        <VoidDialog
          number={number}
          sent={detail.was_sent}
          onCancel={() => setVoiding(false)}
          onConfirm={async (reason, actionId) => {
            await api.voidInvoice({ invoice_id: card.id, reason, base_version: detail.status_version, action_id: actionId });
            setVoiding(false);
            // No notice: the state, the locked box and the reason already say it is void.
            await load();
          }}
        />
      )}
      {paying && (
        <div className="dialog" role="dialog" aria-labelledby="paid-title" data-testid="paid-dialog">
          <h3 id="paid-title">Mark {number} paid?</h3>
          <p style={{ margin: 0 }}>
            {formatMoney(card.total, card.currency)} received from {card.customer ?? "the customer"}. Once marked paid, it cannot go back to sent.
          </p>
          <div className="actions">
            <button
              onClick={async () => {
                try {
                  await api.setInvoiceStatus({ invoice_id: card.id, state: detail.paid_to, base_version: detail.status_version });
                  setPaying(false);
                  // No notice: the state, the sync line and the locked box already say it is paid.
                  await load();
                } catch (e) {
                  setError(errorText(e));
                }
              }}
            >
              Mark {number} paid
            </button>
            <button className="secondary" onClick={() => setPaying(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
    </aside>
  );
}

/** Why an invoice is voided, asked in the app (a browser prompt does nothing in the desktop
 * window); the void keeps it, with the reason. */
function VoidDialog({ number, sent, onCancel, onConfirm }: { number: string; sent: boolean; onCancel: () => void; onConfirm: (reason: string, actionId: string | null) => Promise<void> }) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [actionId, setActionId] = useState<string | null>(null);
  useEffect(() => {
    api
      .newActionId()
      .then((a) => setActionId(a.action_id))
      .catch(() => undefined);
  }, []);
  return (
    <div className="dialog" role="dialog" aria-labelledby="void-title" data-testid="void-dialog">
      <h3 id="void-title">Void {number}?</h3>
      <p style={{ margin: 0 }}>
        It stays in the list as void, with its lines and your reason; nothing is deleted.{sent ? " The customer was sent it: tell them it no longer stands." : ""}
      </p>
      <label>
        Why is it voided?
        <input value={reason} onChange={(e) => setReason(e.target.value)} placeholder="e.g. raised twice for one visit" />
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button
          disabled={!reason.trim() || saving}
          onClick={async () => {
            setSaving(true);
            try {
              await onConfirm(reason.trim(), actionId);
            } catch (e) {
              setError(errorText(e));
            } finally {
              setSaving(false);
            }
          }}
        >
          Void {number}
        </button>
        <button className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

const money = { textAlign: "right" as const, fontVariantNumeric: "tabular-nums" as const };

/**
 * The lines, tax and currency as a form. The totals beside it are the command layer's (the core's
 * rule), read again a moment after each keystroke, with each box's sentence next to it; saving
 * sends what was typed and the command layer computes and checks the same again.
 */
function TotalsForm({
  initial,
  currencies,
  submitLabel,
  onSubmit,
  onCancel,
}: {
  initial: InvoiceForm;
  currencies: string[];
  submitLabel: string;
  onSubmit: (form: InvoiceForm, actionId: string | null) => Promise<void>;
  onCancel: () => void;
}) {
  const [form, setForm] = useState<InvoiceForm>(() => ({ ...initial, lines: initial.lines.length ? initial.lines : [blankLine()] }));
  const [preview, setPreview] = useState<TotalsPreview | null>(null);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [actionId, setActionId] = useState<string | null>(null);
  const asked = useRef(0);
  useEffect(() => {
    api
      .newActionId()
      .then((a) => setActionId(a.action_id))
      .catch(() => undefined);
  }, []);
  useEffect(() => {
    const now = ++asked.current;
    const timer = window.setTimeout(() => {
      api
        .invoiceTotals(form)
        .then((p) => asked.current === now && setPreview(p))
        .catch(() => undefined);
    }, 150);
    return () => window.clearTimeout(timer);
  }, [form]);
  const problems = Object.fromEntries((preview?.problems ?? []).map((p) => [p.field, p.message]));
  // The core numbers the lines that are not blank: line N is the N-th filled row.
  const numbered = form.lines.map((l, i) => {
    const filled = l.description.trim() || l.quantity.trim() || l.unit_price.trim();
    return filled ? form.lines.slice(0, i + 1).filter((x) => x.description.trim() || x.quantity.trim() || x.unit_price.trim()).length : 0;
  });
  const amountOf = (i: number) => {
    const n = numbered[i];
    return n > 0 && preview?.lines[n - 1] ? formatMoney(preview.lines[n - 1].amount, preview.currency) : "—";
  };
  const setLine = (i: number, field: "description" | "quantity" | "unit_price", value: string) =>
    setForm((f) => ({ ...f, lines: f.lines.map((l, j) => (j === i ? { ...l, [field]: value } : l)) }));
  const problemOf = (i: number, field: string) => (numbered[i] > 0 ? problems[`line-${numbered[i]}-${field}`] : undefined);
  const taxKind = form.tax.kind;
  const taxText = form.tax.kind === "rate" ? form.tax.percent : form.tax.amount;
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSaving(true);
    setError(null);
    try {
      await onSubmit(form, actionId);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setSaving(false);
    }
  };
  const c = preview?.currency || form.currency;
  return (
    <form className="edit-form invoice-form" onSubmit={submit} data-testid="invoice-form" aria-label="Invoice lines and tax">
      <table className="lines" style={{ borderCollapse: "collapse", width: "100%", fontSize: 13 }}>
        <thead>
          <tr>
            <th scope="col" style={{ textAlign: "left" }}>Description</th>
            <th scope="col" style={money}>Quantity</th>
            <th scope="col" style={money}>Unit price</th>
            <th scope="col" style={money}>Amount</th>
            <th scope="col">
              <span className="sr-only" style={{ position: "absolute", width: 1, height: 1, overflow: "hidden", clip: "rect(0 0 0 0)" }}>
                Remove
              </span>
            </th>
          </tr>
        </thead>
        <tbody>
          {form.lines.map((l, i) => {
            const n = i + 1;
            const pq = problemOf(i, "quantity");
            const pp = problemOf(i, "unit_price");
            const pd = problemOf(i, "description");
            return (
              <tr key={i} data-testid="invoice-form-line">
                <td>
                  <input aria-label={`Line ${n} description`} value={l.description} onChange={(e) => setLine(i, "description", e.target.value)} style={{ width: "100%", boxSizing: "border-box" }} aria-invalid={pd ? true : undefined} />
                  {pd && <div className="error small">{pd}</div>}
                </td>
                <td style={money}>
                  <input aria-label={`Line ${n} quantity`} inputMode="decimal" value={l.quantity} onChange={(e) => setLine(i, "quantity", e.target.value)} style={{ width: 56, textAlign: "right" }} aria-invalid={pq ? true : undefined} />
                  {pq && <div className="error small">{pq}</div>}
                </td>
                <td style={money}>
                  <input aria-label={`Line ${n} unit price`} inputMode="decimal" value={l.unit_price} onChange={(e) => setLine(i, "unit_price", e.target.value)} style={{ width: 76, textAlign: "right" }} aria-invalid={pp ? true : undefined} />
                  {pp && <div className="error small">{pp}</div>}
                </td>
                <td style={{ ...money, whiteSpace: "nowrap" }} data-testid="line-amount">
                  {amountOf(i)}
                </td>
                <td>
                  <button type="button" className="link" aria-label={`Remove line ${n}`} onClick={() => setForm((f) => ({ ...f, lines: f.lines.filter((_, j) => j !== i) }))}>
                    ×
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {problems["lines"] && <p className="error small">{problems["lines"]}</p>}
      <div>
        <button type="button" className="secondary" onClick={() => setForm((f) => ({ ...f, lines: [...f.lines, blankLine()] }))}>
          Add line
        </button>
      </div>
      <div style={{ display: "flex", gap: 12, flexWrap: "wrap", alignItems: "end" }}>
        <label>
          Tax
          <select
            value={taxKind}
            onChange={(e) => setForm((f) => ({ ...f, tax: e.target.value === "rate" ? { kind: "rate", percent: "20" } : { kind: "amount", amount: preview?.tax !== null && preview?.tax !== undefined ? String(preview.tax) : "0" } }))}
          >
            <option value="rate">as a rate (%)</option>
            <option value="amount">as an amount</option>
          </select>
        </label>
        <label>
          {taxKind === "rate" ? "Tax rate (%)" : "Tax amount"}
          <input
            value={taxText}
            inputMode="decimal"
            style={{ width: 80, textAlign: "right" }}
            onChange={(e) => setForm((f) => ({ ...f, tax: f.tax.kind === "rate" ? { kind: "rate", percent: e.target.value } : { kind: "amount", amount: e.target.value } }))}
            aria-invalid={problems["tax"] ? true : undefined}
          />
        </label>
        <label>
          Currency
          <select value={form.currency} onChange={(e) => setForm((f) => ({ ...f, currency: e.target.value }))}>
            {[...new Set([...currencies, form.currency])].map((code) => (
              <option key={code} value={code}>
                {code}
              </option>
            ))}
          </select>
        </label>
      </div>
      {problems["tax"] && <p className="error small">{problems["tax"]}</p>}
      {problems["currency"] && <p className="error small">{problems["currency"]}</p>}
      <dl className="invoice-totals" data-testid="form-totals" style={{ display: "grid", gridTemplateColumns: "1fr auto", gap: "2px 16px", margin: "4px 0", fontSize: 14 }}>
        <dt style={{ textAlign: "right" }}>Subtotal</dt>
        <dd style={{ ...money, margin: 0 }} data-testid="form-subtotal">
          {formatMoney(preview?.subtotal, c)}
        </dd>
        <dt style={{ textAlign: "right" }}>Tax</dt>
        <dd style={{ ...money, margin: 0 }} data-testid="form-tax">
          {formatMoney(preview?.tax, c)}
        </dd>
        <dt style={{ textAlign: "right", fontWeight: 700 }}>Total</dt>
        <dd style={{ ...money, margin: 0, fontWeight: 700 }} data-testid="form-total">
          {formatMoney(preview?.total, c)}
        </dd>
      </dl>
      {error && (
        <p className="error" role="alert" data-testid="invoice-form-error">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={saving}>
          {saving ? "Saving…" : submitLabel}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
