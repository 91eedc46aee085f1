// The customers page: the list, searchable; a customer's story (profile and billing, its jobs,
// its invoices and its timeline, where an overwritten phone number is still readable); and the
// new customer form, checked against the customers this device knows before it creates one.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, errorText } from "../api";
import type { CreateCustomerResult } from "../bindings/CreateCustomerResult";
import type { CustomerDetail } from "../bindings/CustomerDetail";
import type { CustomerView } from "../bindings/CustomerView";
import type { FieldView } from "../bindings/FieldView";
import type { NewCustomerForm } from "../bindings/NewCustomerForm";
import { Fields, type FieldProblems, type FormEntry } from "../components/Fields";
import { GroupCard } from "../components/GroupEditor";
import { dayText, money, pretty, timeText, when, windowText } from "../format";
import { useEscape } from "../useEscape";
import { Timeline } from "./Job";
import { savedNotice } from "../saved";

/** Customers: office staff create them and edit the profile (last write wins) and billing (goes
 * to review on a collision); each one's page tells its story. */
export function Customers({ refreshKey, onOpenJob }: { refreshKey: number; onOpenJob: (jobId: string) => void }) {
  const [customers, setCustomers] = useState<CustomerView[]>([]);
  const [text, setText] = useState("");
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .customers()
      .then((list) => {
        setCustomers(list);
        setError(null);
      })
      .catch((e) => setError(errorText(e)));
  }, [refreshKey]);
  // A form left open (or the app closed under it) waits as a draft: the button picks it up.
  const [draftAt, setDraftAt] = useState<string | null>(null);
  useEffect(() => {
    api
      .customerDraft()
      .then((draft) => setDraftAt(draft?.saved_at ?? null))
      .catch(() => undefined);
  }, [creating]);
  const shown = customers.filter((c) => `${c.number ?? ""} ${c.name} ${c.site_address ?? ""} ${c.phone ?? ""}`.toLowerCase().includes(text.toLowerCase()));
  return (
    <>
      <section className="customers" aria-label="Customers">
        <div className="toolbar">
          <label>
            Search customers
            <input value={text} onChange={(e) => setText(e.target.value)} placeholder="name, number, phone or address" aria-label="Search customers" />
          </label>
          <button onClick={() => setCreating(true)}>{draftAt ? `Continue the new customer (from ${timeText(draftAt)})…` : "New customer…"}</button>
        </div>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        {error && <p className="error">{error}</p>}
        <table data-testid="customers">
          <thead>
            <tr>
              <th>Number</th>
              <th>Name</th>
              <th>Phone</th>
              <th>Site address</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => (
              <tr key={c.id} className={selected === c.id ? "selected" : ""}>
                <td>{c.number ?? "not yet numbered"}</td>
                <td>
                  <button className="link" onClick={() => setSelected(c.id)}>
                    {c.name || "(no name)"}
                  </button>
                </td>
                <td>{c.phone ?? "—"}</td>
                <td>{c.site_address ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {creating && (
        <NewCustomer
          onOpen={(id) => {
            setCreating(false);
            setSelected(id);
          }}
          onDone={(made) => {
            setCreating(false);
            if (made) {
              setNotice(savedNotice(`${made.name} created`, timeText(new Date().toISOString()), made.label));
              setSelected(made.id);
              api.customers().then(setCustomers).catch(() => undefined);
            }
          }}
        />
      )}
      {selected && !creating && <CustomerPanel customerId={selected} onClose={() => setSelected(null)} onOpenJob={onOpenJob} refreshKey={refreshKey} />}
    </>
  );
}

function CustomerPanel({ customerId, onClose, onOpenJob, refreshKey }: { customerId: string; onClose: () => void; onOpenJob: (jobId: string) => void; refreshKey: number }) {
  const [customer, setCustomer] = useState<CustomerDetail | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [details, setDetails] = useState(false);
  // Reads overlap (a save's, a change notice's): only the newest one started is shown, so a slow
  // older answer never puts back a value that is no longer true.
  const reads = useRef(0);
  const load = useCallback(() => {
    const mine = ++reads.current;
    return api
      .customer(customerId)
      .then((c) => mine === reads.current && setCustomer(c))
      .catch((e) => mine === reads.current && setError(errorText(e)));
  }, [customerId]);
  useEffect(() => {
    load();
  }, [load, refreshKey]);
  useEscape(onClose);
  if (!customer) return <aside className="detail customer-detail">{error ?? "Loading…"}</aside>;
  return (
    <aside className="detail customer-detail" data-testid="customer-detail" aria-label={`Customer ${customer.name}`}>
      <button className="close secondary" onClick={onClose} aria-label="Close">
        ×
      </button>
      <h2>
        {customer.number ?? "New customer"} · {customer.name}
      </h2>
      <p className="muted small">Customer since {dayText(customer.created_at, {}, { year: true })}</p>
      <p className={`sync sync-${customer.sync_level}`} data-testid="customer-sync">
        {customer.sync_label}
      </p>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <div style={{ display: "flex", alignItems: "baseline", justifyContent: "space-between" }}>
        <h3>Profile and billing</h3>
        <button className="link" aria-pressed={details} onClick={() => setDetails((d) => !d)}>
          {details ? "Hide details" : "Details"}
        </button>
      </div>
      <div className="groups">
        {customer.groups.map((g) => (
          <GroupCard
            key={g.group}
            recordType="customer"
            recordId={customer.id}
            group={g}
            details={details}
            onSaved={(message) => {
              setNotice(message);
              load();
            }}
          />
        ))}
      </div>
      <h3>Jobs</h3>
      {customer.jobs.length === 0 ? (
        <p className="muted small">No jobs yet.</p>
      ) : (
        <table className="lines" data-testid="customer-jobs" style={{ width: "100%", fontSize: 13 }}>
          <thead>
            <tr>
              <th scope="col" style={{ textAlign: "left" }}>Job</th>
              <th scope="col" style={{ textAlign: "left" }}>What</th>
              <th scope="col" style={{ textAlign: "left" }}>State</th>
              <th scope="col" style={{ textAlign: "left" }}>When</th>
            </tr>
          </thead>
          <tbody>
            {customer.jobs.map((j) => (
              <tr key={j.id}>
                <td style={{ whiteSpace: "nowrap" }}>
                  <button className="link" onClick={() => onOpenJob(j.id)} aria-label={`Open job ${j.number ?? j.summary}`}>
                    {j.number ?? "not yet numbered"}
                  </button>
                </td>
                <td>{j.summary || "—"}</td>
                <td style={{ whiteSpace: "nowrap" }}>
                  <span className={`pill state-${j.state}`}>{pretty(j.state)}</span>
                </td>
                <td style={{ whiteSpace: "nowrap" }} data-testid="customer-job-when">
                  {windowText(j.window_start, j.window_end)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Invoices</h3>
      {customer.invoices.length === 0 ? (
        <p className="muted small">No invoices yet.</p>
      ) : (
        <table className="lines" data-testid="customer-invoices" style={{ width: "100%", fontSize: 13 }}>
          <thead>
            <tr>
              <th scope="col" style={{ textAlign: "left" }}>Invoice</th>
              <th scope="col" style={{ textAlign: "left" }}>Job</th>
              <th scope="col" style={{ textAlign: "right", paddingRight: 12 }}>Total</th>
              <th scope="col" style={{ textAlign: "left" }}>State</th>
            </tr>
          </thead>
          <tbody>
            {customer.invoices.map((i) => (
              <tr key={i.id}>
                <td style={{ whiteSpace: "nowrap" }}>{i.number ?? "not yet numbered"}</td>
                <td>{i.job_number ?? "—"}</td>
                <td style={{ textAlign: "right", whiteSpace: "nowrap", paddingRight: 12 }}>{money(i.total, i.currency)}</td>
                <td>
                  <span className="pill">{pretty(i.state)}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Timeline entries={customer.timeline} fromServer={customer.timeline_from_server} details={details} />
    </aside>
  );
}

/** The new customer form's fields, as the model has them (profile, then billing). */
const PROFILE: FieldView[] = [
  { name: "name", label: "Name", kind: "text", options: [] },
  { name: "nickname", label: "Nickname", kind: "text", options: [] },
  { name: "phone", label: "Phone", kind: "tel", options: [] },
  { name: "email", label: "Email", kind: "email", options: [] },
  { name: "site_address", label: "Site address", kind: "text", options: [] },
];
const BILLING: FieldView[] = [
  { name: "billing_contact", label: "Billing contact", kind: "text", options: [] },
  { name: "billing_email", label: "Billing email", kind: "email", options: [] },
];

type Typed = Record<string, FormEntry>;
const EMPTY: Typed = Object.fromEntries([...PROFILE, ...BILLING].map((f) => [f.name, ""]));

/** The form as the command layer takes it. */
function formOf(action: string, typed: Typed, confirm: boolean): NewCustomerForm {
  const t = (k: string) => String(typed[k] ?? "");
  return {
    action_id: action,
    name: t("name"),
    nickname: t("nickname"),
    phone: t("phone"),
    email: t("email"),
    site_address: t("site_address"),
    billing_contact: t("billing_contact"),
    billing_email: t("billing_email"),
    confirm_duplicate: confirm,
  };
}

/**
 * The new customer dialog. Its action id is made when it opens (or is the draft's, when a form
 * was left open), so saving twice is one customer; what is typed is kept as a draft, so it
 * survives a restart. Create first looks for customers this one looks like and offers them
 * ("This looks like C-000012 …, created 10 minutes ago"); "Create anyway" makes it.
 */
function NewCustomer({ onDone, onOpen }: { onDone: (made: { id: string; name: string; label: string } | null) => void; onOpen: (id: string) => void }) {
  const [action, setAction] = useState<string | null>(null);
  const [typed, setTyped] = useState<Typed>(EMPTY);
  const [resumed, setResumed] = useState<string | null>(null);
  const [problems, setProblems] = useState<FieldProblems>({});
  const [offered, setOffered] = useState<CreateCustomerResult | null>(null);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ready = useRef(false);
  useEscape(() => onDone(null));
  useEffect(() => {
    api
      .customerDraft()
      .then(async (draft) => {
        if (draft?.form.action_id) {
          const f = draft.form;
          setTyped({ name: f.name, nickname: f.nickname, phone: f.phone, email: f.email, site_address: f.site_address, billing_contact: f.billing_contact, billing_email: f.billing_email });
          setAction(f.action_id);
          setResumed(draft.saved_at);
        } else {
          setAction((await api.newActionId()).action_id);
        }
        ready.current = true;
      })
      .catch((e) => setError(errorText(e)));
  }, []);
  // Kept as typed (a short pause after the last key), and checked by the core's field rules.
  useEffect(() => {
    if (!action || !ready.current) return;
    const typedAny = Object.values(typed).some((v) => String(v).trim() !== "");
    const timer = window.setTimeout(async () => {
      if (typedAny) api.saveCustomerDraft(formOf(action, typed, false)).catch(() => undefined);
      const found: FieldProblems = {};
      for (const [group, fields] of [
        ["profile", PROFILE],
        ["billing", BILLING],
      ] as const) {
        const values = Object.fromEntries(fields.filter((f) => String(typed[f.name] ?? "").trim() !== "").map((f) => [f.name, typed[f.name]]));
        if (Object.keys(values).length === 0) continue;
        try {
          for (const p of await api.checkGroup({ record_type: "customer", record_id: null, group, values })) found[p.field] = p.message;
        } catch {
          // The check is a courtesy; Create checks again.
        }
      }
      setProblems(found);
    }, 300);
    return () => window.clearTimeout(timer);
  }, [typed, action]);
  const create = async (confirm: boolean) => {
    if (!action) return;
    if (String(typed.name ?? "").trim() === "") {
      setProblems((p) => ({ ...p, name: "The name cannot be empty." }));
      return;
    }
    setSaving(true);
    setError(null);
    try {
      const result = await api.createCustomer(formOf(action, typed, confirm));
      if (result.created && result.customer_id) onDone({ id: result.customer_id, name: String(typed.name).trim(), label: result.state_label ?? "" });
      else setOffered(result);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setSaving(false);
    }
  };
  return (
    // Over the page, not beside it: the list stays as it was behind the form.
    <div style={{ position: "fixed", inset: 0, background: "rgba(15, 23, 42, 0.35)", display: "flex", justifyContent: "center", alignItems: "flex-start", paddingTop: 60, zIndex: 20 }}>
    <div className="dialog" role="dialog" aria-modal="true" aria-label="New customer" data-testid="new-customer" style={{ width: "min(560px, 92vw)", maxHeight: "calc(100vh - 100px)", overflow: "auto", margin: 0, background: "white", boxShadow: "0 10px 30px rgba(0,0,0,0.2)" }}>
      <h3>New customer</h3>
      {resumed && (
        <p className="muted small" role="status">
          Picked up the form you left at {timeText(resumed)} ({when(resumed)}).
        </p>
      )}
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void create(false);
        }}
      >
        <fieldset style={{ border: "none", padding: 0 }}>
          <legend>Profile</legend>
          <Fields fields={PROFILE} form={typed} onChange={(name, entry) => setTyped((t) => ({ ...t, [name]: entry }))} problems={problems} idPrefix="new-customer" disabled={saving} />
        </fieldset>
        <fieldset style={{ border: "none", padding: 0 }}>
          <legend>Billing</legend>
          <Fields fields={BILLING} form={typed} onChange={(name, entry) => setTyped((t) => ({ ...t, [name]: entry }))} problems={problems} idPrefix="new-customer" disabled={saving} />
        </fieldset>
        {offered && offered.matches.length > 0 && (
          <div className="warning-box" role="alert" data-testid="customer-matches">
            <p style={{ marginTop: 0 }}>Before you create it: this may be a customer you already have.</p>
            <ul>
              {offered.matches.map((m) => (
                <li key={m.id}>
                  {m.message}.{" "}
                  {m.source !== "Draft" && (
                    <button type="button" className="link" onClick={() => onOpen(m.id)}>
                      Open {m.number ?? "it"}
                    </button>
                  )}
                </li>
              ))}
            </ul>
            <button type="button" className="secondary" disabled={saving} onClick={() => void create(true)}>
              Create anyway
            </button>
          </div>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="submit" disabled={saving || !action}>
            {saving ? "Creating…" : "Create customer"}
          </button>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              if (action) api.discardCustomerDraft(action).catch(() => undefined);
              onDone(null);
            }}
          >
            Discard
          </button>
          <button type="button" className="secondary" onClick={() => onDone(null)}>
            Keep for later
          </button>
        </div>
      </form>
    </div>
    </div>
  );
}
