// The new job form: customer, site, window, summary and who it goes to (technicians and teams
// from the office's device list, with their devices' health; never a typed name), after the
// match-before-create check.
import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { CustomerView } from "../bindings/CustomerView";
import type { MatchView } from "../bindings/MatchView";
import type { OwnerView } from "../bindings/OwnerView";
import { localInput, timeText } from "../format";
import { OwnerOptions, targetOf } from "./Reassign";
import { savedNotice } from "../saved";

const EMPTY_FORM = { customer_id: "", site: "", window_start: "", window_end: "", summary: "", assignee: "" };

/** A `datetime-local` value (the person's own time) as the instant the command layer keeps. */
const instant = (local: string) => (local ? new Date(local).toISOString() : null);

/** The new job form. Its action id comes from the command layer when it opens, so saving twice
 * (or "Create anyway" after the duplicate warning) is one job; Save waits for it. What is typed
 * is kept on this device as a draft under that id, so a form left open (the app closed, the PC
 * restarted) opens again as it was. */
export function NewJob() {
  const [open, setOpen] = useState(false);
  const [customers, setCustomers] = useState<CustomerView[]>([]);
  const [people, setPeople] = useState<OwnerView[]>([]);
  const [form, setForm] = useState(EMPTY_FORM);
  const [matches, setMatches] = useState<MatchView[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const [actionId, setActionId] = useState<string | null>(null);
  const [kept, setKept] = useState<string | null>(null);
  useEffect(() => {
    if (!open) return;
    let live = true;
    setActionId(null);
    setKept(null);
    (async () => {
      const draft = await api.jobDraft();
      if (!live) return;
      if (draft) {
        setForm({
          customer_id: draft.customer_id,
          site: draft.site,
          window_start: draft.window_start ? localInput(draft.window_start) : "",
          window_end: draft.window_end ? localInput(draft.window_end) : "",
          summary: draft.summary,
          assignee: draft.assignee,
        });
        setMessage(`Your draft from ${timeText(draft.saved_at)} is back.`);
        setActionId(draft.action_id);
      } else {
        setForm(EMPTY_FORM);
        const made = await api.newActionId();
        if (live) setActionId(made.action_id);
      }
    })().catch((e) => live && setMessage(errorText(e)));
    api.customers().then(setCustomers).catch(() => setCustomers([]));
    api.assignees().then(setPeople).catch(() => setPeople([]));
    return () => {
      live = false;
    };
  }, [open]);
  // Keeps what is typed: a moment after the last key, and at once when the form closes or the
  // page goes away (a reload, the window closed), so the last keys are never the ones lost.
  const keep = () => {
    if (!actionId || form === EMPTY_FORM) return Promise.resolve();
    return api
      .saveJobDraft({
        action_id: actionId,
        ...form,
        window_start: instant(form.window_start),
        window_end: instant(form.window_end),
        saved_at: null,
      })
      .then(() => setKept(new Date().toISOString()))
      .catch(() => setKept(null));
  };
  useEffect(() => {
    if (!open) return;
    const timer = setTimeout(keep, 150);
    const leaving = () => void keep();
    window.addEventListener("pagehide", leaving);
    return () => {
      clearTimeout(timer);
      window.removeEventListener("pagehide", leaving);
    };
  }, [open, actionId, form]);
  const close = async () => {
    await keep();
    setOpen(false);
  };
  const discard = async () => {
    if (actionId) await api.discardJobDraft(actionId).catch(() => undefined);
    setForm(EMPTY_FORM);
    setMatches([]);
    setMessage(null);
    setOpen(false);
  };
  if (!open)
    return (
      <>
        <button
          onClick={() => {
            // What the last form said belongs to that form: a new one starts without it.
            setMessage(null);
            setOpen(true);
          }}
        >
          New job
        </button>
        {message && (
          <span className="muted small" role="status">
            {" "}
            {message}
          </span>
        )}
      </>
    );
  const submit = async (confirm: boolean) => {
    if (!actionId) return;
    // A team is not a job's first owner (the server gives a job with no technician to
    // dispatch): the job is created unassigned, then given to the team once the server has it.
    const { to_team: team } = targetOf(form.assignee);
    try {
      const result = await api.createJob({
        action_id: actionId,
        customer_id: form.customer_id,
        site: form.site,
        window_start: instant(form.window_start),
        window_end: instant(form.window_end),
        summary: form.summary,
        assignee: team ? "" : form.assignee,
        confirm_duplicate: confirm,
      });
      setMatches(result.matches);
      if (!result.created) setMessage(null);
      if (result.created) {
        const at = timeText(Date.now());
        let saved = savedNotice("New job saved", at, result.state_label);
        if (team && result.job_id) saved += await giveToTeam(result.job_id, team);
        setMessage(saved);
        setForm(EMPTY_FORM);
        setOpen(false);
      }
    } catch (e) {
      setMessage(errorText(e));
    }
  };
  const teamName = (name: string) => people.find((p) => p.kind === "team" && p.name === name)?.display_name ?? `${name} team`;
  /** Gives a job just created to a team: its create goes first, then the reassignment. */
  const giveToTeam = async (jobId: string, team: string): Promise<string> => {
    try {
      await api.syncNow();
      const check = await api.reassignCheck(jobId);
      await api.reassign({ job_id: jobId, to_user: "", to_team: team, owner_epoch: check.owner_epoch, reason: "given to the team when the job was created" });
      return ` It is with the ${teamName(team)}.`;
    } catch {
      return ` It waits in the schedule's unassigned tray until the server has it; give it to the ${teamName(team)} from there.`;
    }
  };
  const technicians = people.filter((p) => p.kind !== "team");
  const teams = people.filter((p) => p.kind === "team");
  return (
    <div className="dialog new-job-panel" role="dialog" aria-label="New job" data-testid="new-job">
      <h3>New job</h3>
      <label>
        Customer
        <select
          value={form.customer_id}
          onChange={(e) => {
            // The customer's site address fills the Site while it is empty or still the previous
            // customer's: a site someone typed is theirs and stays.
            const next = customers.find((c) => c.id === e.target.value);
            const before = customers.find((c) => c.id === form.customer_id);
            const untouched = !form.site.trim() || (before?.site_address ?? null) === form.site;
            setForm({ ...form, customer_id: e.target.value, site: untouched ? (next?.site_address ?? "") : form.site });
          }}
        >
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
        Visit starts
        <input
          type="datetime-local"
          value={form.window_start}
          onChange={(e) => {
            // A visit moved later keeps its length: the end follows the start (two hours by
            // default), so the window never ends before it starts by accident.
            const start = e.target.value;
            let end = form.window_end;
            if (start && (!end || end <= start)) {
              const then = new Date(new Date(start).getTime() + (form.window_start && form.window_end ? new Date(form.window_end).getTime() - new Date(form.window_start).getTime() : 2 * 3600e3));
              end = localInput(then.toISOString());
            }
            setForm({ ...form, window_start: start, window_end: end });
          }}
        />
      </label>
      <label>
        Visit ends
        <input type="datetime-local" value={form.window_end} min={form.window_start || undefined} onChange={(e) => setForm({ ...form, window_end: e.target.value })} />
      </label>
      <label>
        Summary
        <input value={form.summary} onChange={(e) => setForm({ ...form, summary: e.target.value })} />
      </label>
      <label>
        Assign to
        <select value={form.assignee} onChange={(e) => setForm({ ...form, assignee: e.target.value })}>
          <option value="">Nobody yet (the job waits unassigned)</option>
          {/* A draft from before may name someone the list does not (yet) know: kept, not lost. */}
          {form.assignee !== "" && !people.some((p) => (p.kind === "team" ? `team:${p.name}` : p.name) === form.assignee) && (
            <option value={form.assignee}>{form.assignee}</option>
          )}
          <OwnerOptions people={technicians} teams={teams} />
        </select>
      </label>
      {matches.length > 0 && (
        <div className="warning-box">
          {matches.map((m) => (
            <p key={m.id}>{m.message}</p>
          ))}
          <button onClick={() => submit(true)} disabled={!actionId}>
            Create anyway
          </button>
        </div>
      )}
      {message && <p className="muted">{message}</p>}
      {kept && <p className="muted" role="status">Draft kept on this device at {timeText(kept)}.</p>}
      <div className="actions">
        <button onClick={() => submit(false)} disabled={!actionId}>
          Save
        </button>
        <button className="secondary" onClick={close} title="Close the form; what you typed is kept as a draft">
          Close
        </button>
        <button className="secondary" onClick={discard}>
          Discard
        </button>
      </div>
    </div>
  );
}
