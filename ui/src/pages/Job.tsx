// One job's detail panel beside the board, in people's words: what, where, when (the window in
// the person's own time) and who, its sync state, the status moves, reassign, void and reopen,
// its field groups under people's titles, what the field sent, and its timeline as sentences.
// The groups' wire names, versions and the log's bookkeeping show only with Details on.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, errorText } from "../api";
import type { JobDetail } from "../bindings/JobDetail";
import type { ReassignCheck } from "../bindings/ReassignCheck";
import type { TimelineEntry } from "../bindings/TimelineEntry";
import type { Reassigned } from "../bindings/Reassigned";
import { FieldSent } from "../components/FieldSent";
import { GroupCard } from "../components/GroupEditor";
import { Reassign } from "../components/Reassign";
import { momentText, pretty, sentence, timeText, when, windowText, type SentencePiece } from "../format";
import { useEscape } from "../useEscape";
import { savedNotice } from "../saved";

/** The time of day now: a notice says when it happened, so it never reads as the state now. */
const nowClock = () => timeText(Date.now());

/** The groups in the order a person reads a job: what, where and when, the work, the sign-off,
 * then the status (moved by its buttons above). */
const ORDER = ["description", "schedule", "work", "signature", "status"];

/** The entries a person should notice, in words; an ordinary applied change needs no label. */
const KIND_WORDS: Partial<Record<TimelineEntry["kind"], string>> = {
  held: "In review",
  rejected: "Refused",
  pending: "Not sent yet",
  resolved: "Resolved",
};

/** A record's timeline as sentences, newest first; with `details`, each entry's group,
 * version, user name and device. Shared by the job and customer pages. */
export function Timeline({ entries, fromServer, details }: { entries: TimelineEntry[]; fromServer: boolean; details: boolean }) {
  return (
    <>
      <h3>
        Timeline{" "}
        {fromServer ? null : <span className="muted small">(the server is unreachable: as last read from it, with this device's own changes)</span>}
      </h3>
      <ol className="timeline" data-testid="timeline">
        {entries.map((t) => (
          <li key={`${t.seq}-${t.kind}-${t.at}`} className={`tl tl-${t.kind}`}>
            {KIND_WORDS[t.kind] && <span className="tl-kind">{KIND_WORDS[t.kind]}</span>} {sentence(t.pieces as SentencePiece[])}
            <div className="muted small">
              <time dateTime={t.at} title={momentText(t.at)}>
                {timeText(t.at)} · {when(t.at)}
              </time>
              {t.device && <> · {t.device}</>}
              {details && (
                <span data-testid="entry-details">
                  {" "}
                  · {t.user}
                  {t.group && ` · ${t.group}`}
                  {t.version !== null && ` v${t.version}`} · {t.kind}
                </span>
              )}
            </div>
          </li>
        ))}
      </ol>
    </>
  );
}

export function Job({ jobId, onClose, onReview, refreshKey }: { jobId: string; onClose: () => void; onReview?: () => void; refreshKey: number }) {
  const [job, setJob] = useState<JobDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reassigning, setReassigning] = useState(false);
  const [reopening, setReopening] = useState(false);
  const [voiding, setVoiding] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  // The groups' wire names and versions and the log's bookkeeping, for the curious.
  const [details, setDetails] = useState(false);
  // The last reassignment's way back: the notice offers it until it is used or the panel closes.
  const [undo, setUndo] = useState<Reassigned | null>(null);
  // Reads overlap (a save's, a change notice's): only the newest one started is shown, so a slow
  // older answer never puts back a value that is no longer true.
  const reads = useRef(0);
  const load = useCallback(() => {
    const mine = ++reads.current;
    return api
      .job(jobId)
      .then((j) => mine === reads.current && setJob(j))
      .catch((e) => mine === reads.current && setError(errorText(e)));
  }, [jobId]);
  useEffect(() => {
    load();
  }, [load, refreshKey]);
  useEscape(onClose);
  if (!job) return <aside className="detail">{error ?? "Loading…"}</aside>;
  const schedule = job.groups.find((g) => g.group === "schedule")?.values as { window_end?: string | null } | undefined;
  const groups = [...job.groups].sort((a, b) => ORDER.indexOf(a.group) - ORDER.indexOf(b.group));
  return (
    <aside className="detail" data-testid="job-detail" aria-label={`Job ${job.card.number ?? "not yet numbered"}`}>
      <button className="close secondary" onClick={onClose} aria-label="Close">
        ×
      </button>
      <h2>
        {job.card.number ?? "New job"} <span className={`pill state-${job.card.state}`}>{pretty(job.card.state)}</span>
      </h2>
      <dl className="values facts" data-testid="job-facts">
        <div>
          <dt>What</dt>
          <dd>{job.card.summary || "—"}</dd>
        </div>
        <div>
          <dt>Customer</dt>
          <dd>{job.card.customer}</dd>
        </div>
        <div>
          <dt>Where</dt>
          <dd>{job.card.site || "—"}</dd>
        </div>
        <div>
          <dt>When</dt>
          <dd data-testid="job-window">{windowText(job.card.window_start, schedule?.window_end)}</dd>
        </div>
        <div>
          <dt>Who</dt>
          <dd>
            {/* Spans, not the Owner card: every div in a list of values is a row. */}
            <strong>{job.card.owner.display_name}</strong>
            {job.card.owner.team && <span className="muted"> · {job.card.owner.team}</span>}
            <br />
            <span className="muted small">
              {job.card.owner.device ?? "no device yet"}
              {job.card.owner.last_seen && <> · seen {when(job.card.owner.last_seen)}</>}
              {job.card.owner.unsynced ? <span className="warn"> · {job.card.owner.unsynced} unsynced</span> : null}
            </span>
          </dd>
        </div>
      </dl>
      <p className={`sync sync-${job.card.sync_level}`}>{job.card.sync_label}</p>
      {job.final_note && (
        <p className="warning-box" data-testid="final-note">
          {job.final_note}
        </p>
      )}
      {job.card.needs_review && (
        <p className="warning-box" data-testid="needs-review">
          Needs review: a person chooses between versions of this job in the review inbox.{" "}
          {onReview && (
            <button className="link" onClick={onReview}>
              Go to its review card
            </button>
          )}
        </p>
      )}
      {notice && (
        <p className="notice" role="status">
          {notice}
          {undo?.undo && " "}
          {undo?.undo && (
            <button
              className="link"
              onClick={async () => {
                const back = undo.undo;
                if (!back) return;
                try {
                  const done = await api.reassign(back);
                  setUndo(null);
                  setNotice(`Back with ${done.to.display_name} at ${nowClock()}.`);
                  load();
                } catch (e) {
                  setUndo(null);
                  setNotice(errorText(e));
                }
              }}
            >
              Undo
            </button>
          )}
        </p>
      )}
      <div className="actions">
        {job.can_reassign && <button onClick={() => setReassigning(true)}>Reassign…</button>}
        {job.can_reopen && <button onClick={() => setReopening(true)}>Reopen…</button>}
        {job.can_void && (
          <button className="danger" onClick={() => setVoiding(true)}>
            Void…
          </button>
        )}
        {job.can_change_status &&
          job.next_states.map((s) => (
            <button
              key={s}
              className="secondary"
              onClick={async () => {
                try {
                  // The status as this page shows it: one someone else set meanwhile makes this
                  // a collision for review, not a silent overwrite.
                  const shown = job.groups.find((g) => g.group === "status")?.version ?? null;
                  const saved = await api.setStatus({ job_id: job.card.id, state: s, base_version: shown });
                  setNotice(savedNotice(`Status changed to ${pretty(s)}`, nowClock(), saved.state_label));
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
      {reopening && (
        <Reopen
          job={job}
          onDone={(reopened) => {
            setReopening(false);
            if (reopened) setJob(reopened);
          }}
        />
      )}
      {reassigning && (
        <Reassign
          job={job}
          onDone={(done) => {
            setReassigning(false);
            if (done) {
              setUndo(done);
              setNotice(`Reassigned from ${done.from.display_name} to ${done.to.display_name} at ${nowClock()}.`);
            }
            load();
          }}
        />
      )}
      {voiding && (
        <Void
          job={job}
          onDone={(message) => {
            setVoiding(false);
            if (message) {
              setUndo(null);
              setNotice(message);
            }
            load();
          }}
        />
      )}
      <div style={{ display: "flex", alignItems: "baseline", justifyContent: "space-between" }}>
        <h3>About this job</h3>
        <button className="link" aria-pressed={details} onClick={() => setDetails((d) => !d)}>
          {details ? "Hide details" : "Details"}
        </button>
      </div>
      <div className="groups">
        {groups.map((g) => (
          <GroupCard
            key={g.group}
            recordType="job"
            recordId={job.card.id}
            group={g}
            details={details}
            hide={g.group === "schedule" ? ["assignee"] : []}
            onSaved={(message) => {
              setNotice(message);
              load();
            }}
          />
        ))}
      </div>
      <FieldSent jobId={job.card.id} refreshKey={refreshKey} />
      <Timeline entries={job.timeline} fromServer={job.timeline_from_server} details={details} />
    </aside>
  );
}

/** The reopen dialog: what reopening does, and why (the reason is kept with the visit and shown
 * in the timeline). An in-app dialog: a browser prompt does nothing in the desktop window. */
function Reopen({ job, onDone }: { job: JobDetail; onDone: (reopened: JobDetail | null) => void }) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  return (
    <div className="dialog" role="dialog" aria-label="Reopen job">
      <h3>Reopen {job.card.number}</h3>
      <p>
        It starts a new visit for <strong>{job.card.owner.display_name}</strong>. The earlier signature, notes and times are kept.
      </p>
      <label>
        Why is it reopened?
        <input value={reason} onChange={(e) => setReason(e.target.value)} aria-label="Reason for reopening" autoFocus />
      </label>
      {error && <p className="error">{error}</p>}
      <div className="actions">
        <button
          disabled={!reason.trim() || saving}
          onClick={async () => {
            setSaving(true);
            try {
              onDone(await api.reopen({ job_id: job.card.id, reason: reason.trim() }));
            } catch (e) {
              setError(errorText(e));
            } finally {
              setSaving(false);
            }
          }}
        >
          Reopen
        </button>
        <button className="secondary" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** The void dialog: what voiding does (the job is kept, marked voided, never deleted), who is
 * working on it and what their device has not synced, and why. It goes on the status version it
 * showed: a technician who started the job meanwhile makes it a review, not a silent void. */
function Void({ job, onDone }: { job: JobDetail; onDone: (message: string | null) => void }) {
  const [check, setCheck] = useState<ReassignCheck | null>(null);
  const [reason, setReason] = useState("");
  const [action, setAction] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // What the person looks at: the status version now, kept while the dialog is open.
  const [shown] = useState(() => job.groups.find((g) => g.group === "status")?.version ?? null);
  useEffect(() => {
    api.reassignCheck(job.card.id).then(setCheck).catch(() => undefined);
    api
      .newActionId()
      .then((made) => setAction(made.action_id))
      .catch((e) => setError(errorText(e)));
  }, [job.card.id]);
  const started = job.work_started;
  return (
    <div className="dialog" role="dialog" aria-label="Void job">
      <h3>Void {job.card.number ?? "this job"}</h3>
      <p>
        The job stays in the records, marked <strong>voided</strong>: nobody works on it any more, and its history is kept.
      </p>
      <p>
        It is with <strong>{job.card.owner.display_name}</strong>
        {started ? (
          <>
            {" "}
            and is <strong>{pretty(job.card.state)}</strong>: work has started on it.
          </>
        ) : (
          "."
        )}
      </p>
      {check?.warning && (
        <p className="warning-box" data-testid="void-warning">
          ⚠ {check.warning}. If that device sends work for this job after the void, both wait in the review inbox.
        </p>
      )}
      <label>
        Why is it voided?
        <input value={reason} onChange={(e) => setReason(e.target.value)} aria-label="Reason for voiding" autoFocus />
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button
          className="danger"
          disabled={!reason.trim() || !action || saving}
          onClick={async () => {
            setSaving(true);
            try {
              const saved = await api.voidJob({ job_id: job.card.id, reason: reason.trim(), base_version: shown, action_id: action });
              onDone(savedNotice("Job voided", nowClock(), saved.state_label));
            } catch (e) {
              setError(errorText(e));
            } finally {
              setSaving(false);
            }
          }}
        >
          Void the job
        </button>
        <button className="secondary" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </div>
  );
}
