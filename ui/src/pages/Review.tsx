// The weekly sync review: every possible duplicate, conflict, rejection, ownership-moved hold and
// slow change of a period, per device and per rule, so a team sees whether its problems come
// from ownership, a conflict rule or retry timing; exportable as CSV.
import { isTauri } from "@tauri-apps/api/core";
import { save } from "@tauri-apps/plugin-dialog";
import { useCallback, useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { ReportCountsView } from "../bindings/ReportCountsView";
import type { ReportView } from "../bindings/ReportView";
import { dayText, momentText } from "../format";

const PERIODS = [
  { days: 7, label: "Last 7 days" },
  { days: 30, label: "Last 30 days" },
];

/** The count columns of the summary tables, in the cards' order. */
const KINDS: (keyof ReportCountsView)[] = ["possible_duplicate", "conflict", "void_vs_update", "rejected", "ownership_moved", "slow_change"];

function day(iso: string): string {
  return dayText(iso, {}, { year: true });
}

function moment(iso: string): string {
  return momentText(iso);
}

/** Where the CSV goes: in the desktop window, the place the person picks in the system's save
 * dialog (null when they cancel); in a browser, which has no such dialog, the app's exports
 * folder (the page says where). Never a download link: it does nothing in the desktop window. */
async function chooseCsvPath(filename: string): Promise<string | null | undefined> {
  if (!isTauri()) return undefined;
  // The app names the place (Downloads, with the period's file name); a bare name would open
  // the dialog in the app's working directory.
  const picked = await save({ defaultPath: filename, filters: [{ name: "CSV", extensions: ["csv"] }] });
  return picked ?? null;
}

function Counts({ counts }: { counts: ReportCountsView }) {
  return (
    <>
      {KINDS.map((k) => (
        <td key={k} className={`num${counts[k] === 0 ? " zero" : ""}`}>
          {counts[k]}
        </td>
      ))}
      <td className="num total">{counts.total}</td>
    </>
  );
}

export function SyncReview({ onOpenJob }: { onOpenJob: (jobId: string) => void }) {
  const [days, setDays] = useState(7);
  const [report, setReport] = useState<ReportView | null>(null);
  const [kind, setKind] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [exporting, setExporting] = useState(false);
  const [exported, setExported] = useState<string | null>(null);

  const load = useCallback(async (period: number) => {
    setLoading(true);
    setError(null);
    try {
      setReport(await api.report({ days: period }));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  }, []);
  useEffect(() => {
    load(days);
  }, [days, load]);

  const exportCsv = async () => {
    setExporting(true);
    setError(null);
    try {
      const filename =
        report?.export_path ??
        (report ? `fieldsync-sync-review-${report.since.slice(0, 10)}-to-${report.until.slice(0, 10)}.csv` : "fieldsync-sync-review.csv");
      const path = await chooseCsvPath(filename);
      if (path === null) return; // the person cancelled the dialog
      const saved = await api.saveReportCsv({ days, path: path ?? null });
      setExported(`${saved.rows} events saved to ${saved.path}`);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setExporting(false);
    }
  };

  const labels = report ? Object.fromEntries(report.cards.map((c) => [c.kind, c.label])) : {};
  const events = report ? report.events.filter((e) => kind === null || e.kind === kind) : [];
  return (
    <section data-testid="report" className="report" aria-labelledby="report-title">
      <div className="report-head">
        <div>
          <h2 id="report-title">Sync review</h2>
          <p className="muted">
            Every possible duplicate, conflict, rejection, ownership-moved hold and slow change of the period, per device and per rule: see whether
            problems come from ownership, a conflict rule or retry timing.
          </p>
        </div>
        <div className="toolbar">
          <label>
            Period{" "}
            <select aria-label="Period" value={days} onChange={(e) => setDays(Number(e.target.value))}>
              {PERIODS.map((p) => (
                <option key={p.days} value={p.days}>
                  {p.label}
                </option>
              ))}
            </select>
          </label>
          <button className="secondary" onClick={() => load(days)} disabled={loading}>
            {loading ? "Loading…" : "Refresh"}
          </button>
          <button onClick={exportCsv} disabled={exporting || !report}>
            {exporting ? "Exporting…" : "Export CSV"}
          </button>
        </div>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {exported && (
        <p className="muted small" role="status">
          {exported}
        </p>
      )}
      {report && (
        <>
          <p className="muted small" data-testid="report-period">
            {day(report.since)} – {day(report.until)} · {report.total} events · a change is slow when it reaches the server {report.slow_text} or more after it was saved on
            its device
          </p>
          <div className="kind-cards" role="group" aria-label="Events by kind (choose one to filter the list)">
            {report.cards.map((c) => (
              <button
                key={c.kind}
                className={`kind-card kind-${c.kind}${kind === c.kind ? " chosen" : ""}`}
                aria-pressed={kind === c.kind}
                onClick={() => setKind(kind === c.kind ? null : c.kind)}
                title={c.hint}
              >
                <span className="count">{c.count}</span>
                <span className="label">{c.label}</span>
                <span className="hint">{c.hint}</span>
              </button>
            ))}
          </div>
          <p className="causes" data-testid="report-causes">
            <span className="muted small">Where they come from:</span>
            {report.causes.map((c) => (
              <span key={c.cause} className={`pill cause-${c.cause}${c.count === 0 ? " zero" : ""}`}>
                {c.label} {c.count}
              </span>
            ))}
          </p>
          <div className="report-tables">
            <div>
              <h3 id="per-device">Per device</h3>
              <table className="board summary" data-testid="report-devices" aria-labelledby="per-device">
                <thead>
                  <tr>
                    <th scope="col">Device</th>
                    <th scope="col">User</th>
                    {KINDS.map((k) => (
                      <th key={k} scope="col" className="num">
                        {labels[k]}
                      </th>
                    ))}
                    <th scope="col" className="num">
                      Total
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {report.devices.map((d) => (
                    <tr key={d.device_id ?? "none"}>
                      <th scope="row">{d.device}</th>
                      <td>{d.user ?? "—"}</td>
                      <Counts counts={d.counts} />
                    </tr>
                  ))}
                  {report.devices.length === 0 && (
                    <tr>
                      <td colSpan={9} className="muted">
                        No device had a problem in this period.
                      </td>
                    </tr>
                  )}
                </tbody>
              </table>
            </div>
            <div>
              <h3 id="per-rule">Per rule</h3>
              <table className="board summary" data-testid="report-rules" aria-labelledby="per-rule">
                <thead>
                  <tr>
                    <th scope="col">Rule</th>
                    <th scope="col">Cause</th>
                    {KINDS.map((k) => (
                      <th key={k} scope="col" className="num">
                        {labels[k]}
                      </th>
                    ))}
                    <th scope="col" className="num">
                      Total
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {report.rules.map((r) => (
                    <tr key={`${r.rule}.${r.cause}`}>
                      <th scope="row">
                        {r.rule_label} <code className="small muted">{r.rule}</code>
                      </th>
                      <td>
                        <span className={`pill cause-${r.cause}`}>{r.cause_label}</span>
                      </td>
                      <Counts counts={r.counts} />
                    </tr>
                  ))}
                  {report.rules.length === 0 && (
                    <tr>
                      <td colSpan={9} className="muted">
                        No rule held or refused anything in this period.
                      </td>
                    </tr>
                  )}
                </tbody>
              </table>
            </div>
          </div>
          <h3 id="report-events">
            Events{kind && ` · ${labels[kind]}`}{" "}
            {kind && (
              <button className="link" onClick={() => setKind(null)}>
                show all
              </button>
            )}
          </h3>
          <table className="board" data-testid="report-events" aria-labelledby="report-events">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Kind</th>
                <th scope="col">Record</th>
                <th scope="col">Rule</th>
                <th scope="col">Who · device</th>
                <th scope="col">Delay</th>
                <th scope="col">What happened</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e, i) => (
                <tr key={`${e.record_id}.${e.at}.${e.kind}.${i}`} data-kind={e.kind}>
                  <td title={`saved on the device ${moment(e.saved_at)}`}>{moment(e.at)}</td>
                  <td>
                    <span className={`pill kind-pill kind-${e.kind}`}>{e.kind_label}</span>
                  </td>
                  <td>
                    {e.job_id ? (
                      <button className="link" onClick={() => onOpenJob(e.job_id as string)} aria-label={`Open ${e.record}`}>
                        {e.record}
                      </button>
                    ) : (
                      e.record
                    )}
                    {e.group && <span className="muted small"> · {e.group}</span>}
                  </td>
                  <td>
                    {e.rule_label}
                    <div className="muted small">{e.cause_label}</div>
                  </td>
                  <td>
                    {e.author}
                    <div className="muted small">{e.device}</div>
                  </td>
                  <td className={e.kind === "slow_change" ? "warn" : ""}>{e.delay}</td>
                  <td className="small">
                    {e.detail}
                    {e.review_state && <div className="muted">review {e.review_state}</div>}
                  </td>
                </tr>
              ))}
              {events.length === 0 && (
                <tr>
                  <td colSpan={7} className="muted">
                    Nothing flagged, held, refused or slow in this period.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
