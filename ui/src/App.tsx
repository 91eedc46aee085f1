import { useCallback, useEffect, useState } from "react";
import { api, ApiError } from "./api";
import type { CustomerView } from "./bindings/CustomerView";
import type { InvoiceCard } from "./bindings/InvoiceCard";
import type { RuleView } from "./bindings/RuleView";
import type { JobCard } from "./bindings/JobCard";
import type { JobDetail } from "./bindings/JobDetail";
import type { MatchView } from "./bindings/MatchView";
import type { OwnerView } from "./bindings/OwnerView";
import type { ReassignCheck } from "./bindings/ReassignCheck";
import type { ReviewCard } from "./bindings/ReviewCard";
import type { SessionInfo } from "./bindings/SessionInfo";
import type { SideView } from "./bindings/SideView";
import type { SyncBanner } from "./bindings/SyncBanner";
import { Report } from "./Report";
import { Customers } from "./Customers";
import { clock, pretty, when } from "./format";
import { GroupCard } from "./GroupEditor";
import { Values } from "./Values";
import { useEscape } from "./useEscape";

const REFRESH_MS = 3000;

function errorText(e: unknown): string {
  return e instanceof ApiError ? e.message : String(e);
}

function Owner({ owner }: { owner: OwnerView }) {
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

function Banner({ banner, onSyncNow, busy }: { banner: SyncBanner | null; onSyncNow: () => void; busy: boolean }) {
  if (!banner) return null;
  return (
    <div className={`banner banner-${banner.level}`} role="status" data-testid="sync-banner">
      <span className="banner-text">{banner.text}</span>
      {banner.next_sync && banner.level !== "ok" && <span className="muted small"> Next try {clock(banner.next_sync)}.</span>}
      <button onClick={onSyncNow} disabled={busy}>
        {busy ? "Syncing…" : "Sync now"}
      </button>
      {banner.summary.length > 0 && (
        <ul className="summary">
          {banner.summary.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function SignIn({ onSignedIn }: { onSignedIn: (s: SessionInfo) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="signin"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          onSignedIn(await api.signIn({ username, password }));
        } catch (err) {
          setError(errorText(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <h1>Fieldsync</h1>
      <p className="muted">Sign in to the office.</p>
      <label>
        User name
        <input name="username" value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
      </label>
      <label>
        Password
        <input name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      {error && <p className="error">{error}</p>}
      <button type="submit" disabled={busy || !username}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}

function Board({ session, onOpen, refreshKey }: { session: SessionInfo; onOpen: (id: string) => void; refreshKey: number }) {
  const [jobs, setJobs] = useState<JobCard[]>([]);
  const [text, setText] = useState("");
  const [state, setState] = useState("");
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api
      .board({ text, state: state || null })
      .then((j) => live && (setJobs(j), setError(null)))
      .catch((e) => live && setError(errorText(e)));
    return () => {
      live = false;
    };
  }, [text, state, refreshKey]);
  return (
    <section>
      <div className="toolbar">
        <input placeholder="Search number, customer, site, owner…" value={text} onChange={(e) => setText(e.target.value)} aria-label="Search jobs" />
        <select value={state} onChange={(e) => setState(e.target.value)} aria-label="Filter by status">
          <option value="">All statuses</option>
          {["assigned", "opened", "in_progress", "paused", "signed_off", "closed", "reopened", "voided", "archived"].map((s) => (
            <option key={s} value={s}>
              {pretty(s)}
            </option>
          ))}
        </select>
        <span className="muted small">{jobs.length} jobs</span>
        {session.can.create_job && <NewJob />}
      </div>
      {error && <p className="error">{error}</p>}
      <table className="board" data-testid="board">
        <thead>
          <tr>
            <th>Job</th>
            <th>Customer / site</th>
            <th>Status</th>
            <th>Owner</th>
            <th>Sync</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr
              key={job.id}
              onClick={() => onOpen(job.id)}
              onKeyDown={(e) => {
                if (e.key === "Enter" || e.key === " ") {
                  e.preventDefault();
                  onOpen(job.id);
                }
              }}
              tabIndex={0}
              aria-label={`${job.number ?? "New job"}: ${job.summary}, ${pretty(job.state)}, ${job.owner.display_name}`}
              className="clickable"
              data-number={job.number ?? ""}
            >
              <td>
                <strong>{job.number ?? "new"}</strong>
                <div className="muted small">{job.summary}</div>
              </td>
              <td>
                {job.customer}
                <div className="muted small">{job.site}</div>
              </td>
              <td>
                <span className={`pill state-${job.state}`}>{pretty(job.state)}</span>
              </td>
              <td>
                <Owner owner={job.owner} />
              </td>
              <td>
                <span className={`sync sync-${job.sync_level}`}>{job.sync_label}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function NewJob() {
  const [open, setOpen] = useState(false);
  const [customers, setCustomers] = useState<CustomerView[]>([]);
  const [form, setForm] = useState({ customer_id: "", site: "", window_start: "", summary: "", assignee: "" });
  const [matches, setMatches] = useState<MatchView[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const [actionId] = useState(() => crypto.randomUUID());
  useEffect(() => {
    if (open) api.customers().then(setCustomers).catch(() => setCustomers([]));
  }, [open]);
  if (!open) return <button onClick={() => setOpen(true)}>New job</button>;
  const submit = async (confirm: boolean) => {
    try {
      const result = await api.createJob({
        action_id: actionId,
        customer_id: form.customer_id,
        site: form.site,
        window_start: form.window_start ? new Date(form.window_start).toISOString() : null,
        summary: form.summary,
        assignee: form.assignee,
        confirm_duplicate: confirm,
      });
      setMatches(result.matches);
      if (result.created) {
        setMessage(`Job saved: ${result.state_label}`);
        setOpen(false);
      }
    } catch (e) {
      setMessage(errorText(e));
    }
  };
  return (
    <div className="dialog" role="dialog" aria-label="New job">
      <h3>New job</h3>
      <label>
        Customer
        <select value={form.customer_id} onChange={(e) => setForm({ ...form, customer_id: e.target.value })}>
          <option value="">Choose…</option>
          {customers.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Site
        <input value={form.site} onChange={(e) => setForm({ ...form, site: e.target.value })} />
      </label>
      <label>
        Day
        <input type="datetime-local" value={form.window_start} onChange={(e) => setForm({ ...form, window_start: e.target.value })} />
      </label>
      <label>
        Summary
        <input value={form.summary} onChange={(e) => setForm({ ...form, summary: e.target.value })} />
      </label>
      <label>
        Assign to (user name)
        <input value={form.assignee} onChange={(e) => setForm({ ...form, assignee: e.target.value })} />
      </label>
      {matches.length > 0 && (
        <div className="warning-box">
          {matches.map((m) => (
            <p key={m.id}>{m.message}</p>
          ))}
          <button onClick={() => submit(true)}>Create anyway</button>
        </div>
      )}
      {message && <p className="muted">{message}</p>}
      <div className="actions">
        <button onClick={() => submit(false)}>Save</button>
        <button className="secondary" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}

function Reassign({ job, onDone }: { job: JobDetail; onDone: () => void }) {
  const [check, setCheck] = useState<ReassignCheck | null>(null);
  const [to, setTo] = useState("");
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
        <select value={to} onChange={(e) => setTo(e.target.value)} aria-label="New owner">
          <option value="">Choose…</option>
          {check.candidates.map((c) => (
            <option key={c.name} value={c.name}>
              {c.display_name} {c.team ? `(${c.team})` : ""}
            </option>
          ))}
        </select>
      </label>
      {error && <p className="error">{error}</p>}
      <div className="actions">
        <button
          disabled={!to}
          onClick={async () => {
            try {
              await api.reassign({ job_id: job.card.id, to_user: to });
              onDone();
            } catch (e) {
              setError(errorText(e));
            }
          }}
        >
          Reassign
        </button>
        <button className="secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </div>
  );
}

function Detail({ jobId, onClose, refreshKey }: { jobId: string; onClose: () => void; refreshKey: number }) {
  const [job, setJob] = useState<JobDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reassigning, setReassigning] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const load = useCallback(() => api.job(jobId).then(setJob).catch((e) => setError(errorText(e))), [jobId]);
  useEffect(() => {
    load();
  }, [load, refreshKey]);
  useEscape(onClose);
  if (!job) return <aside className="detail">{error ?? "Loading…"}</aside>;
  return (
    <aside className="detail" data-testid="job-detail">
      <button className="close secondary" onClick={onClose} aria-label="Close">
        ×
      </button>
      <h2>
        {job.card.number ?? "New job"} <span className={`pill state-${job.card.state}`}>{pretty(job.card.state)}</span>
      </h2>
      <p>
        {job.card.customer} · {job.card.site}
      </p>
      <Owner owner={job.card.owner} />
      <p className={`sync sync-${job.card.sync_level}`}>{job.card.sync_label}</p>
      {notice && <p className="notice">{notice}</p>}
      <div className="actions">
        {job.can_reassign && <button onClick={() => setReassigning(true)}>Reassign…</button>}
        {job.can_reopen && (
          <button
            onClick={async () => {
              const reason = window.prompt("Why is the job reopened?") ?? "";
              if (!reason) return;
              try {
                setJob(await api.reopen({ job_id: job.card.id, reason }));
              } catch (e) {
                setNotice(errorText(e));
              }
            }}
          >
            Reopen
          </button>
        )}
        {job.can_change_status &&
          job.next_states.map((s) => (
            <button
              key={s}
              className="secondary"
              onClick={async () => {
                try {
                  const saved = await api.setStatus({ job_id: job.card.id, state: s });
                  setNotice(`Status → ${pretty(s)}: ${saved.state_label}`);
                  load();
                } catch (e) {
                  setNotice(errorText(e));
                }
              }}
            >
              → {pretty(s)}
            </button>
          ))}
      </div>
      {reassigning && (
        <Reassign
          job={job}
          onDone={() => {
            setReassigning(false);
            load();
          }}
        />
      )}
      <h3>Field groups</h3>
      <div className="groups">
        {job.groups.map((g) => (
          <GroupCard
            key={g.group}
            recordType="job"
            recordId={job.card.id}
            group={g}
            onSaved={(message) => {
              setNotice(message);
              load();
            }}
          />
        ))}
      </div>
      {job.notes.length > 0 && (
        <>
          <h3>Notes</h3>
          <ul>
            {job.notes.map((n, i) => (
              <li key={i}>{n}</li>
            ))}
          </ul>
        </>
      )}
      <h3>Timeline {job.timeline_from_server ? "" : <span className="muted small">(this device only: the server is unreachable)</span>}</h3>
      <ol className="timeline" data-testid="timeline">
        {job.timeline.map((t) => (
          <li key={`${t.seq}-${t.kind}`} className={`tl tl-${t.kind}`}>
            <span className="tl-kind">{t.kind}</span> {t.text}
            <div className="muted small">
              {t.who} · {when(t.at)}
            </div>
          </li>
        ))}
      </ol>
    </aside>
  );
}

function Side({ title, side, highlight }: { title: string; side: SideView | null; highlight: string[] }) {
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

function Inbox({ onChanged, refreshKey }: { onChanged: () => void; refreshKey: number }) {
  const [items, setItems] = useState<ReviewCard[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [merged, setMerged] = useState<Record<string, string>>({});
  useEffect(() => {
    api.inbox().then(setItems).catch((e) => setError(errorText(e)));
  }, [refreshKey]);
  const resolve = async (item: ReviewCard, choice: string) => {
    try {
      let values: Record<string, unknown> | null = null;
      if (choice === "merged") values = JSON.parse(merged[item.id] ?? "{}");
      await api.resolve({ review_id: item.id, choice, values });
      setItems(await api.inbox());
      onChanged();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <section data-testid="inbox">
      {error && <p className="error">{error}</p>}
      {items.length === 0 && <p className="muted">Nothing waits for review.</p>}
      {items.map((item) => (
        <article key={item.id} className={`review review-${item.kind}`} data-kind={item.kind}>
          <h3>{item.title}</h3>
          <p className="muted small">
            {pretty(item.kind)} · {when(item.created_at)}
          </p>
          <div className="sides">
            {item.kind === "conflict" && <Side title="Base (what both started from)" side={item.base} highlight={[]} />}
            <Side title="Current" side={item.current} highlight={item.differing} />
            <Side title="Incoming" side={item.incoming} highlight={item.differing} />
          </div>
          {item.can_resolve ? (
            <div className="actions">
              <button onClick={() => resolve(item, "current")}>{item.kind === "possible_duplicate" ? "Void the new job" : "Keep current"}</button>
              <button onClick={() => resolve(item, "incoming")}>{item.kind === "possible_duplicate" ? "Keep both" : "Take incoming"}</button>
              {item.allows_merge && (
                <>
                  <input
                    placeholder='Merged value, e.g. {"state": "paused"}'
                    value={merged[item.id] ?? ""}
                    onChange={(e) => setMerged({ ...merged, [item.id]: e.target.value })}
                    aria-label="Merged value"
                  />
                  <button className="secondary" onClick={() => resolve(item, "merged")} disabled={!merged[item.id]}>
                    Save merged
                  </button>
                </>
              )}
            </div>
          ) : (
            <p className="muted small">Only {item.resolvers.join(" or ")} may resolve this.</p>
          )}
        </article>
      ))}
    </section>
  );
}

function Rules() {
  const [rules, setRules] = useState<RuleView[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.rules().then(setRules).catch((e) => setError(errorText(e)));
  }, []);
  return (
    <section data-testid="rules">
      <h2>Sync rules</h2>
      <p className="muted">What happens to each kind of change when two people make it, before anyone loses signal. Generated from the policy in force.</p>
      {error && <p className="error">{error}</p>}
      <table className="board">
        <thead>
          <tr>
            <th>Record</th>
            <th>Field group</th>
            <th>Rule</th>
            <th>In plain words</th>
          </tr>
        </thead>
        <tbody>
          {rules.map((r) => (
            <tr key={`${r.record_type}.${r.group}`}>
              <td>{r.record_type}</td>
              <td>{r.group}</td>
              <td>
                <span className={`badge badge-${r.policy.replace(/ /g, "-")}`}>{r.policy}</span>
              </td>
              <td className="small">{r.explanation}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Invoices({ refreshKey, onReview }: { refreshKey: number; onReview: () => void }) {
  const [invoices, setInvoices] = useState<InvoiceCard[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.invoices().then(setInvoices).catch((e) => setError(errorText(e)));
  }, [refreshKey]);
  const money = (n: number | null, c: string) => (n === null ? "—" : `${n.toFixed(2)} ${c}`);
  return (
    <section data-testid="invoices">
      {error && <p className="error">{error}</p>}
      <table className="board">
        <thead>
          <tr>
            <th>Invoice</th>
            <th>Job</th>
            <th>Status</th>
            <th>Subtotal</th>
            <th>Tax</th>
            <th>Total</th>
            <th>Sync</th>
          </tr>
        </thead>
        <tbody>
          {invoices.map((i) => (
            <tr key={i.id} className={i.under_review ? "under-review" : ""}>
              <td>
                <strong>{i.number ?? "new"}</strong>
              </td>
              <td>{i.job_number ?? "—"}</td>
              <td>
                <span className="pill">{pretty(i.state)}</span>
              </td>
              <td>{money(i.subtotal, i.currency)}</td>
              <td>{money(i.tax, i.currency)}</td>
              <td>
                {money(i.total, i.currency)}
                {i.under_review && (
                  <div>
                    <button className="secondary" onClick={onReview}>
                      Totals under review: resolve
                    </button>
                  </div>
                )}
              </td>
              <td className="small">{i.sync_label}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [banner, setBanner] = useState<SyncBanner | null>(null);
  const [view, setView] = useState<"board" | "inbox" | "customers" | "invoices" | "rules" | "report">("board");
  const [selected, setSelected] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    api.session().then(setSession).catch(() => setSession(null));
  }, []);
  useEffect(() => {
    if (!session) return;
    const refresh = () => {
      api.syncStatus().then(setBanner).catch(() => undefined);
      setTick((t) => t + 1);
    };
    refresh();
    const timer = window.setInterval(refresh, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [session]);
  if (session === undefined) return <p className="muted">Starting…</p>;
  if (session === null) return <SignIn onSignedIn={setSession} />;
  const syncNow = async () => {
    setBusy(true);
    try {
      setBanner(await api.syncNow());
      setTick((t) => t + 1);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="app">
      <header>
        <span className="brand">Fieldsync</span>
        <nav>
          <button className={view === "board" ? "active" : "secondary"} onClick={() => setView("board")}>
            Board
          </button>
          <button className={view === "inbox" ? "active" : "secondary"} onClick={() => setView("inbox")}>
            Review inbox
          </button>
          {session.can.edit_customers && (
            <button className={view === "customers" ? "active" : "secondary"} onClick={() => setView("customers")}>
              Customers
            </button>
          )}
          {session.can.finance && (
            <button className={view === "invoices" ? "active" : "secondary"} onClick={() => setView("invoices")}>
              Invoices
            </button>
          )}
          <button className={view === "rules" ? "active" : "secondary"} onClick={() => setView("rules")}>
            Sync rules
          </button>
          {session.can.sync_review && (
            <button className={view === "report" ? "active" : "secondary"} onClick={() => setView("report")}>
              Sync review
            </button>
          )}
        </nav>
        <span className="who">
          {session.display_name} · {session.role}
          <button
            className="secondary"
            onClick={async () => {
              await api.signOut();
              setSession(null);
            }}
          >
            Sign out
          </button>
        </span>
      </header>
      <Banner banner={banner} onSyncNow={syncNow} busy={busy} />
      <main>
        {view === "board" && <Board session={session} onOpen={setSelected} refreshKey={tick} />}
        {view === "inbox" && <Inbox onChanged={() => setTick((t) => t + 1)} refreshKey={tick} />}
        {view === "customers" && <Customers refreshKey={tick} />}
        {view === "invoices" && <Invoices refreshKey={tick} onReview={() => setView("inbox")} />}
        {view === "rules" && <Rules />}
        {view === "report" && (
          <Report
            onOpenJob={(id) => {
              setSelected(id);
              setView("board");
            }}
          />
        )}
        {selected && view === "board" && <Detail jobId={selected} onClose={() => setSelected(null)} refreshKey={tick} />}
      </main>
    </div>
  );
}
