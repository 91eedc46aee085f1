// The board: every job the person may see, searchable and filtered by status, with the new job
// form for those who may create one.
import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { JobCard } from "../bindings/JobCard";
import type { SessionInfo } from "../bindings/SessionInfo";
import type { State } from "../bindings/State";
import { NewJob } from "../components/NewJob";
import { Owner } from "../components/Owner";
import { pretty } from "../format";

export function Board({
  session,
  onOpen,
  onReview,
  refreshKey,
}: {
  session: SessionInfo;
  onOpen: (id: string) => void;
  /** To the review inbox, from a row that needs review. */
  onReview: () => void;
  refreshKey: number;
}) {
  const [jobs, setJobs] = useState<JobCard[]>([]);
  const [text, setText] = useState("");
  const [state, setState] = useState<State | "">("");
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
        <select value={state} onChange={(e) => setState(e.target.value as State | "")} aria-label="Filter by status">
          <option value="">All statuses</option>
          {session.job_states.map((s) => (
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
                {job.needs_review && (
                  <div>
                    <button
                      className="link needs-review"
                      onClick={(e) => {
                        // The row opens the job; this goes to the card instead.
                        e.stopPropagation();
                        onReview();
                      }}
                      onKeyDown={(e) => e.stopPropagation()}
                      aria-label={`${job.number ?? "This job"} needs review: go to its card`}
                    >
                      Needs review
                    </button>
                  </div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
