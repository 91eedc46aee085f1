// The schedule board: technicians (grouped by team) down the side with their devices' health,
// the day or week along the top with each job at its window, the unassigned tray above, and a
// now-line. A job is dragged (pointer events, so a mouse, a pen, Playwright and WebDriver all
// drive it) onto another technician to reassign it, along its row to reschedule it, or onto a
// team to give it to the team; every drag has its keyboard way: M on a focused job (or its
// Move… button) opens the Move dialog with the same choices. Times are stored UTC and shown in
// the person's local time.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, errorText } from "../api";
import type { OwnerView } from "../bindings/OwnerView";
import type { ReassignCheck } from "../bindings/ReassignCheck";
import type { ScheduledJob } from "../bindings/ScheduledJob";
import type { ScheduleView } from "../bindings/ScheduleView";
import type { SessionInfo } from "../bindings/SessionInfo";
import type { State } from "../bindings/State";
import type { TechnicianRow } from "../bindings/TechnicianRow";
import { OwnerOptions, OwnerWarning, ownerKey, targetOf } from "../components/Reassign";
import type { RescheduleArgs } from "../bindings/RescheduleArgs";
import type { Reassigned } from "../bindings/Reassigned";
import type { Rescheduled } from "../bindings/Rescheduled";
import { dayText, hourText, pretty, timeRange, timeText, when } from "../format";
import { useEscape } from "../useEscape";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** A drop lands on the quarter hour: what a dispatcher books in. */
const SNAP = 15 * MINUTE;
/** A job with a start and no end is drawn this long. */
const DEFAULT_LENGTH = HOUR;
/** The pointer must travel this far (px) before a press becomes a drag, so a click stays a click. */
const DRAG_THRESHOLD = 5;
/** How often the now-line catches up with the clock. */
const NOW_TICK = 30_000;

type Span = "day" | "week";
/** Where a job is dropped: a technician (and, on a timeline, a start), or a team. */
type Target = { kind: "user" | "team"; name: string; start: number | null };
/** A move the Move dialog opens on: from a drop, or from the keyboard (no preset). */
type Moving = { job: ScheduledJob; target: Target | null };

/** Local midnight of the day `t` falls on. */
function midnight(t: number): Date {
  const d = new Date(t);
  d.setHours(0, 0, 0, 0);
  return d;
}

/** `days` calendar days after `d` at the same local time (a DST day is 23 or 25 hours). */
function addDays(d: Date, days: number): Date {
  const next = new Date(d);
  next.setDate(next.getDate() + days);
  return next;
}

/** The Monday of `d`'s week, at local midnight. */
function monday(d: Date): Date {
  return addDays(midnight(d.getTime()), -((d.getDay() + 6) % 7));
}

const ms = (iso: string | null) => (iso ? new Date(iso).getTime() : NaN);
function windowOf(job: ScheduledJob): [number, number] | null {
  const start = ms(job.window_start);
  if (Number.isNaN(start)) return null;
  const end = ms(job.window_end);
  return [start, Number.isNaN(end) || end <= start ? start + DEFAULT_LENGTH : end];
}

const pad = (n: number) => String(n).padStart(2, "0");
/** "2026-12-02" for a date input, local. */
const dateInput = (t: number) => {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
};
/** "14:05" for a time input, local. */
const timeInput = (t: number) => {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
/** A date input's and a time input's text as an instant, local. */
function fromInputs(date: string, time: string): number {
  const [y, m, d] = date.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  return new Date(y, m - 1, d, h, mi).getTime();
}
const isoOf = (t: number) => new Date(t).toISOString().replace(".000Z", "Z");
const dayName = (t: number) => dayText(t, {}, { long: true });
const shortDay = (t: number) => dayText(t);
const span = (job: ScheduledJob) => {
  const w = windowOf(job);
  return w ? timeRange(w[0], w[1]) : "no time yet";
};

/** What the board's notice says, and its one-click way back when the move has one: the undo
 * answers with the sentence the notice says next. */
type Notice = { text: string; undo?: () => Promise<string> };

/** A reschedule's way back: the window it had, on the version the move made (the command layer
 * refuses it with `changed_since_seen` if someone else moved the job since). */
async function undoReschedule(undo: RescheduleArgs): Promise<string> {
  const { action_id } = await api.newActionId();
  const back = await api.reschedule({ ...undo, action_id });
  return `${back.job.card.number ?? "The job"} is back at ${dayText(undo.window_start)} ${timeRange(undo.window_start, undo.window_end)} (${back.state_label.toLowerCase()}).`;
}

/** A reassignment's way back, as the job page's notice offers it (`Reassigned.undo`, on the
 * epoch the reassignment made). */
async function undoReassign(done: Reassigned): Promise<string> {
  if (!done.undo) return "Nothing to undo.";
  const back = await api.reassign(done.undo);
  return `${back.card.number ?? "The job"} is back with ${back.to.display_name} at ${timeText(Date.now())}.`;
}

/** Stacks a row's jobs in sub-lanes so no two cards overlap: each job takes the first lane whose
 * last job has ended. Returns the lane of each job id and how many lanes there are. */
function stack(jobs: ScheduledJob[]): [Map<string, number>, number] {
  const ends: number[] = [];
  const lanes = new Map<string, number>();
  for (const job of [...jobs].sort((a, b) => (windowOf(a)?.[0] ?? 0) - (windowOf(b)?.[0] ?? 0))) {
    const [start, end] = windowOf(job) ?? [0, 0];
    let lane = ends.findIndex((e) => e <= start);
    if (lane < 0) lane = ends.push(end) - 1;
    else ends[lane] = end;
    lanes.set(job.card.id, lane);
  }
  return [lanes, Math.max(1, ends.length)];
}

/** An hour along the top: "14:00" where the person's clock has 24 hours, "2 PM" where it has 12
 * (a 12-hour "2:00 PM" would not fit an hour's width on a small screen). */
const hourLabel = (t: number) => hourText(t);

/** "north team" as a heading reads "North team". */
const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function healthText(row: TechnicianRow): string {
  const p = row.person;
  if (!p.device) return "no device yet";
  const unsynced = Number(p.unsynced ?? 0);
  const parts = [p.device];
  if (unsynced) parts.push(`${unsynced} unsynced`);
  parts.push(p.last_seen ? `seen ${when(p.last_seen)}` : "never seen");
  return parts.join(" · ");
}

export function Schedule({ session, onOpen, refreshKey }: { session: SessionInfo; onOpen: (id: string) => void; refreshKey: number }) {
  const [day, setDay] = useState(() => midnight(Date.now()));
  const [spanKind, setSpanKind] = useState<Span>("day");
  const [team, setTeam] = useState("");
  const [person, setPerson] = useState("");
  const [status, setStatus] = useState<State | "">("");
  const [board, setBoard] = useState<ScheduleView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [moving, setMoving] = useState<Moving | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const [reads, setReads] = useState(0);
  const from = spanKind === "day" ? day : monday(day);
  const to = addDays(from, spanKind === "day" ? 1 : 7);
  const fromMs = from.getTime();
  const toMs = to.getTime();
  const reload = useCallback(() => setReads((n) => n + 1), []);
  useEffect(() => {
    let live = true;
    api
      .schedule({ from: isoOf(fromMs), to: isoOf(toMs) })
      .then((b) => live && (setBoard(b), setError(null)))
      .catch((e) => live && setError(errorText(e)));
    return () => {
      live = false;
    };
  }, [fromMs, toMs, refreshKey, reads]);
  // The now-line moves with the clock, as often as the banner's clock can change minute (every
  // 30 s, so it is never a whole minute behind); nothing is read again for it.
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), NOW_TICK);
    return () => window.clearInterval(timer);
  }, []);

  // The hours a day shows: the working day, stretched to hold every job of the day.
  const [viewStart, viewEnd] = useMemo(() => {
    if (spanKind === "week") return [fromMs, toMs];
    let first = fromMs + 7 * HOUR;
    let last = fromMs + 19 * HOUR;
    // Today's board always holds the now-line, early or late.
    if (now >= fromMs && now < toMs) {
      first = Math.min(first, Math.floor(now / HOUR) * HOUR);
      last = Math.max(last, Math.ceil((now + 1) / HOUR) * HOUR);
    }
    for (const job of board?.jobs ?? []) {
      const w = windowOf(job);
      if (!w) continue;
      first = Math.min(first, Math.max(fromMs, Math.floor(w[0] / HOUR) * HOUR));
      last = Math.max(last, Math.min(toMs, Math.ceil(w[1] / HOUR) * HOUR));
    }
    return [first, last];
  }, [board, spanKind, fromMs, toMs, Math.floor(now / HOUR)]);
  const length = viewEnd - viewStart;
  const hours = useMemo(() => {
    const list: number[] = [];
    for (let t = viewStart; t < viewEnd; t += HOUR) list.push(t);
    return list;
  }, [viewStart, viewEnd]);
  const days = useMemo(() => Array.from({ length: 7 }, (_, i) => addDays(from, i).getTime()), [fromMs]);

  const allLanes = board?.teams ?? [];
  const lanes = allLanes
    .filter((l) => !team || l.team.name === team)
    .map((l) => ({ ...l, technicians: l.technicians.filter((t) => !person || t.person.name === person) }))
    .filter((l) => l.technicians.length > 0 || (!person && l.team.name !== ""));
  const shows = (job: ScheduledJob) => !status || job.card.state === status;
  const jobsOf = (name: string) => (board?.jobs ?? []).filter((j) => j.card.owner.kind === "user" && j.card.owner.name === name && shows(j));
  const tray = (board?.tray ?? []).filter(
    (j) =>
      shows(j) &&
      (!team || j.card.owner.team === team || (j.card.owner.kind === "team" && j.card.owner.name === team)) &&
      (!person || (j.card.owner.kind === "user" && j.card.owner.name === person) || j.card.owner.kind === "team"),
  );
  const technicians = allLanes.flatMap((l) => l.technicians.map((t) => t.person));
  const teams = allLanes.map((l) => l.team).filter((t) => t.name !== "");
  const canMove = board?.can_move ?? false;

  // ---- Dragging, with pointer events. ----
  const drag = useRef<{ job: ScheduledJob; x: number; y: number; grab: number; moved: boolean } | null>(null);
  const [ghost, setGhost] = useState<{ job: ScheduledJob; x: number; y: number; target: Target | null; label: string } | null>(null);

  /** What lies under the pointer: a technician's row (a start from where on the row, in a day),
   * a week's day cell (the job's own time of day, that day), or a team. */
  const targetAt = (x: number, y: number, job: ScheduledJob, grab: number): Target | null => {
    const el = document.elementsFromPoint(x, y).find((e) => e instanceof HTMLElement && e.dataset.drop) as HTMLElement | undefined;
    if (!el) return null;
    const kind = el.dataset.drop === "team" ? "team" : "user";
    const name = el.dataset.name ?? "";
    if (kind === "team") return { kind, name, start: null };
    const w = windowOf(job);
    if (el.dataset.day) {
      const cell = Number(el.dataset.day);
      const timeOfDay = w ? w[0] - midnight(w[0]).getTime() : 9 * HOUR;
      const start = new Date(cell);
      start.setHours(0, 0, 0, 0);
      return { kind, name, start: start.getTime() + timeOfDay };
    }
    if (el.dataset.track) {
      const rect = el.getBoundingClientRect();
      const at = viewStart + ((x - rect.left) / rect.width) * length - grab;
      return { kind, name, start: Math.round(at / SNAP) * SNAP };
    }
    return { kind, name, start: w ? w[0] : null };
  };
  const describe = (job: ScheduledJob, target: Target | null): string => {
    if (!target) return "Drop on a technician, a time or a team";
    const who =
      target.kind === "team"
        ? teams.find((t) => t.name === target.name)?.display_name ?? `${target.name} team`
        : technicians.find((t) => t.name === target.name)?.display_name ?? target.name;
    if (target.start === null) return `→ ${who}`;
    const w = windowOf(job);
    const length = w ? w[1] - w[0] : 2 * HOUR;
    const dayPart = spanKind === "week" ? `${shortDay(target.start)} ` : "";
    return `→ ${who}, ${dayPart}${timeRange(target.start, target.start + length)}`;
  };
  const onPointerDown = (e: React.PointerEvent, job: ScheduledJob) => {
    if (e.button !== 0) return;
    const card = e.currentTarget.getBoundingClientRect();
    const track = (e.currentTarget.closest("[data-track]") as HTMLElement | null)?.getBoundingClientRect();
    // Where on the card it was taken, as time: the card's start lands that far left of the pointer.
    const grab = track ? ((e.clientX - card.left) / track.width) * length : 0;
    drag.current = { job, x: e.clientX, y: e.clientY, grab, moved: false };
    const move = (ev: PointerEvent) => {
      const d = drag.current;
      if (!d) return;
      if (!d.moved && Math.hypot(ev.clientX - d.x, ev.clientY - d.y) < DRAG_THRESHOLD) return;
      if (!canMove || !d.job.movable) return;
      d.moved = true;
      const target = targetAt(ev.clientX, ev.clientY, d.job, d.grab);
      setGhost({ job: d.job, x: ev.clientX, y: ev.clientY, target, label: describe(d.job, target) });
    };
    const stop = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      window.removeEventListener("pointercancel", cancel);
      window.removeEventListener("keydown", key, true);
    };
    const up = (ev: PointerEvent) => {
      stop();
      const d = drag.current;
      drag.current = null;
      setGhost(null);
      if (!d) return;
      if (!d.moved) {
        onOpen(d.job.card.id);
        return;
      }
      void dropped(d.job, targetAt(ev.clientX, ev.clientY, d.job, d.grab));
    };
    const cancel = () => {
      stop();
      drag.current = null;
      setGhost(null);
    };
    // Escape during a drag puts it back: the ghost goes, and the release that follows moves
    // nothing. Taken in the capture phase and stopped there, so it does not also close a panel.
    const key = (ev: KeyboardEvent) => {
      if (ev.key !== "Escape") return;
      ev.preventDefault();
      ev.stopImmediatePropagation();
      const moved = drag.current?.moved;
      cancel();
      if (moved) setNotice({ text: "Move cancelled: nothing moved." });
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
    window.addEventListener("pointercancel", cancel);
    window.addEventListener("keydown", key, true);
  };

  /** A drop: along the job's own row it is a reschedule, done at once; onto someone else or a
   * team it is a reassignment, which opens the Move dialog with the warning and asks why. */
  const dropped = async (job: ScheduledJob, target: Target | null) => {
    if (!target) return;
    const own = job.card.owner.kind === target.kind && job.card.owner.name === target.name;
    if (own) {
      const w = windowOf(job);
      if (target.start === null || (w && w[0] === target.start)) return;
      const length = w ? w[1] - w[0] : 2 * HOUR;
      await reschedule(job, target.start, target.start + length);
      return;
    }
    setMoving({ job, target });
  };
  /** Moves a job in time on the version the board showed; the answer (with its undo), or null
   * when it was refused (the notice says why). */
  const reschedule = async (job: ScheduledJob, start: number, end: number, quiet = false): Promise<Rescheduled | null> => {
    try {
      const { action_id } = await api.newActionId();
      const done = await api.reschedule({ job_id: job.card.id, window_start: isoOf(start), window_end: isoOf(end), base_version: job.schedule_version, action_id });
      if (!quiet) {
        const undo = done.undo;
        setNotice({
          text: `${job.card.number ?? "The job"} moved to ${spanKind === "week" ? `${shortDay(start)} ` : ""}${timeRange(start, end)}, still with ${job.card.owner.display_name} (${done.state_label.toLowerCase()}).`,
          undo: undo ? () => undoReschedule(undo) : undefined,
        });
      }
      reload();
      return done;
    } catch (e) {
      setNotice({ text: errorText(e) });
      reload();
      return null;
    }
  };

  const cardOf = (job: ScheduledJob, style?: React.CSSProperties, compact = false) => (
    <div
      key={job.card.id}
      className={`sched-card sync-edge-${job.card.sync_level} ${job.movable && canMove ? "movable" : ""} ${ghost?.job.card.id === job.card.id ? "dragging" : ""}`}
      style={style}
      tabIndex={0}
      data-job={job.card.number ?? job.card.id}
      aria-label={`${job.card.number ?? "New job"}, ${job.card.customer}, ${job.card.summary}, ${span(job)}, ${pretty(job.card.state)}, ${job.card.sync_label}, ${job.card.owner.display_name}${
        canMove && job.movable ? ". Press M to move it, Enter to open it." : ". Press Enter to open it."
      }`}
      title={`${job.card.number ?? "New job"} · ${span(job)} · ${job.card.customer} · ${job.card.summary} · ${job.card.sync_label}`}
      onPointerDown={(e) => onPointerDown(e, job)}
      onKeyDown={(e) => {
        if (e.target !== e.currentTarget) return;
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          onOpen(job.card.id);
        } else if ((e.key === "m" || e.key === "M") && canMove && job.movable) {
          e.preventDefault();
          setMoving({ job, target: null });
        }
      }}
    >
      <div className="sched-card-top">
        <strong>{job.card.number ?? "new"}</strong>
        <span className="sched-time">{span(job)}</span>
      </div>
      <div className="sched-what">
        {job.card.customer} · {job.card.summary || job.card.site}
      </div>
      {!compact && job.tray_reason && <div className="sched-reason">{job.tray_reason}</div>}
      <div className="sched-card-foot">
        <span className={`pill state-${job.card.state}`}>{pretty(job.card.state)}</span>
        <span className={`sync sync-${job.card.sync_level}`}>{job.card.sync_label}</span>
        {job.card.needs_review && <span className="warn">Needs review</span>}
        {canMove && job.movable && (
          <button
            className="secondary sched-move"
            aria-label={`Move ${job.card.number ?? "this job"}…`}
            onPointerDown={(e) => e.stopPropagation()}
            onClick={() => setMoving({ job, target: null })}
          >
            Move…
          </button>
        )}
      </div>
    </div>
  );

  const nowPct = ((now - viewStart) / length) * 100;
  const showNow = now >= viewStart && now < viewEnd;
  const step = spanKind === "day" ? 1 : 7;

  return (
    <section className="schedule" data-testid="schedule">
      <div className="toolbar sched-toolbar">
        <div className="sched-nav" role="group" aria-label="Which day">
          <button className="secondary" onClick={() => setDay(addDays(day, -step))} aria-label={spanKind === "day" ? "Previous day" : "Previous week"}>
            ◀
          </button>
          <button className="secondary" onClick={() => setDay(midnight(Date.now()))}>
            Today
          </button>
          <button className="secondary" onClick={() => setDay(addDays(day, step))} aria-label={spanKind === "day" ? "Next day" : "Next week"}>
            ▶
          </button>
          <input type="date" aria-label="Day shown" value={dateInput(day.getTime())} onChange={(e) => e.target.value && setDay(new Date(fromInputs(e.target.value, "00:00")))} />
        </div>
        <div className="sched-span" role="group" aria-label="Day or week">
          <button className={spanKind === "day" ? "" : "secondary"} aria-pressed={spanKind === "day"} onClick={() => setSpanKind("day")}>
            Day
          </button>
          <button className={spanKind === "week" ? "" : "secondary"} aria-pressed={spanKind === "week"} onClick={() => setSpanKind("week")}>
            Week
          </button>
        </div>
        <select aria-label="Filter by team" value={team} onChange={(e) => (setTeam(e.target.value), setPerson(""))}>
          <option value="">All teams</option>
          {teams.map((t) => (
            <option key={t.name} value={t.name}>
              {t.display_name}
            </option>
          ))}
        </select>
        <select aria-label="Filter by technician" value={person} onChange={(e) => setPerson(e.target.value)}>
          <option value="">All technicians</option>
          {technicians
            .filter((t) => !team || t.team === team)
            .map((t) => (
              <option key={t.name} value={t.name}>
                {t.display_name}
              </option>
            ))}
        </select>
        <select aria-label="Filter by status" value={status} onChange={(e) => setStatus(e.target.value as State | "")}>
          <option value="">All statuses</option>
          {session.job_states.map((s) => (
            <option key={s} value={s}>
              {pretty(s)}
            </option>
          ))}
        </select>
      </div>
      <h2 className="sched-title">
        {spanKind === "day" ? dayName(fromMs) : `Week of ${dayName(fromMs)}`}
        <span className="muted small"> · times in your time zone ({Intl.DateTimeFormat().resolvedOptions().timeZone})</span>
      </h2>
      {error && <p className="error">{error}</p>}
      {notice && (
        <p className="notice" role="status">
          {notice.text}
          {notice.undo && (
            <>
              {" "}
              <button
                className="link"
                onClick={async () => {
                  const undo = notice.undo;
                  if (!undo) return;
                  setNotice({ text: notice.text });
                  try {
                    setNotice({ text: await undo() });
                  } catch (e) {
                    setNotice({ text: errorText(e) });
                  }
                  reload();
                }}
              >
                Undo
              </button>
            </>
          )}
        </p>
      )}

      <div className="sched-tray" data-testid="tray" aria-label="Unassigned" role="region">
        <h3>
          Unassigned <span className="muted small">({tray.length})</span>
        </h3>
        <p className="muted small">
          Open jobs with no technician (waiting with a team, or overdue) and jobs with no time yet.
          {canMove ? " Drag one onto a technician and a time, or focus it and press M." : ""}
        </p>
        <div className="sched-tray-cards">
          {tray.length === 0 && <p className="muted small">Nothing waiting.</p>}
          {tray.map((job) => cardOf(job))}
        </div>
      </div>

      <div className={`sched-grid sched-grid-${spanKind}`} data-testid="schedule-grid">
        <div className="sched-head" aria-hidden="true">
          <div className="sched-label" />
          {spanKind === "day" ? (
            <div className="sched-hours">
              {hours.map((h, i) => (
                <span key={h} style={{ left: `${((h - viewStart) / length) * 100}%` }}>
                  {hours.length <= 14 || i % 2 === 0 ? hourLabel(h) : ""}
                </span>
              ))}
            </div>
          ) : (
            <div className="sched-days">
              {days.map((d) => (
                <span key={d} className={midnight(now).getTime() === d ? "today" : ""}>
                  {shortDay(d)}
                </span>
              ))}
            </div>
          )}
        </div>
        {/* The now-line's time in a strip of its own under the hours: on the line itself it sat
            on the team row's words. Centred on the line, kept inside the strip at either end. */}
        {spanKind === "day" && showNow && (
          <div className="sched-nowbar" aria-hidden="true">
            <span
              data-testid="now-label"
              style={{
                left: `calc(var(--sched-label) + (100% - var(--sched-label)) * ${nowPct / 100})`,
                transform: `translateX(${nowPct < 5 ? -10 : nowPct > 95 ? -100 : -50}%)`,
              }}
            >
              now {timeText(now)}
            </span>
          </div>
        )}
        <div className="sched-body">
          {spanKind === "day" && showNow && (
            <div className="sched-now" style={{ left: `calc(var(--sched-label) + (100% - var(--sched-label)) * ${nowPct / 100})` }} data-testid="now-line" />
          )}
          {lanes.length === 0 && <p className="muted sched-empty">No technicians to show{team || person ? " with these filters" : ""}.</p>}
          {lanes.map((lane) => (
            <div key={lane.team.name || "none"} className="sched-lane">
              <div
                className={`sched-team ${ghost?.target?.kind === "team" && ghost.target.name === lane.team.name ? "drop-over" : ""}`}
                data-drop={lane.team.name ? "team" : undefined}
                data-name={lane.team.name}
                data-testid={`team-${lane.team.name}`}
              >
                <strong>{capital(lane.team.display_name)}</strong>
                {lane.team.name && (
                  <span className="muted small">
                    {" "}
                    · {lane.team.device}
                    {Number(lane.team.unsynced ?? 0) > 0 && <span className="warn"> · {Number(lane.team.unsynced)} unsynced</span>}
                    {canMove && " · drop a job here to give it to the team"}
                  </span>
                )}
              </div>
              {lane.technicians.map((row) => {
                const mine = jobsOf(row.person.name);
                const [laneOf, count] = stack(mine);
                const over = ghost?.target?.kind === "user" && ghost.target.name === row.person.name;
                return (
                  <div key={row.person.name} className={`sched-row ${over ? "drop-over" : ""}`} data-testid={`row-${row.person.name}`}>
                    <div className="sched-label" data-drop="user" data-name={row.person.name}>
                      <strong>{row.person.display_name}</strong>
                      <div className={`small health health-${row.health}`}>{row.warning ? `⚠ ${row.warning}` : healthText(row)}</div>
                    </div>
                    {spanKind === "day" ? (
                      <div className="sched-track" data-drop="user" data-name={row.person.name} data-track="1" style={{ height: count * 66 + 8 }}>
                        {hours.map((h) => (
                          <span key={h} className="sched-tick" style={{ left: `${((h - viewStart) / length) * 100}%` }} aria-hidden="true" />
                        ))}
                        {mine.map((job) => {
                          const [s, e] = windowOf(job) ?? [viewStart, viewStart + DEFAULT_LENGTH];
                          const left = Math.max(0, (s - viewStart) / length);
                          const right = Math.min(1, (e - viewStart) / length);
                          return cardOf(job, { left: `${left * 100}%`, width: `calc(${(right - left) * 100}% - 4px)`, top: 4 + (laneOf.get(job.card.id) ?? 0) * 66 });
                        })}
                      </div>
                    ) : (
                      <div className="sched-week">
                        {days.map((d) => (
                          <div key={d} className="sched-cell" data-drop="user" data-name={row.person.name} data-day={d}>
                            {mine
                              .filter((j) => {
                                const w = windowOf(j);
                                return w && w[0] < addDays(new Date(d), 1).getTime() && w[1] > d;
                              })
                              .map((job) => cardOf(job, undefined, true))}
                          </div>
                        ))}
                      </div>
                    )}
                  </div>
                );
              })}
            </div>
          ))}
        </div>
      </div>

      {ghost && (
        <div className="sched-ghost" style={{ left: ghost.x + 12, top: ghost.y + 12 }} aria-hidden="true" data-testid="drag-ghost">
          <strong>{ghost.job.card.number}</strong> {ghost.label}
        </div>
      )}
      {moving && (
        <Move
          moving={moving}
          technicians={technicians}
          teams={teams}
          onClose={() => setMoving(null)}
          onReschedule={(job, start, end) => reschedule(job, start, end, true)}
          onChecked={reload}
          onDone={(done) => {
            setMoving(null);
            setNotice(done);
            reload();
          }}
        />
      )}
    </section>
  );
}

/** The way back from what the Move dialog did: the reassignment's undo (on the epoch it made),
 * the reschedule's (on the version it made), or both. When both were done the reassignment
 * moved the schedule's version too, so the window goes back on the version read right after
 * the owner is back, and only if that read still shows the window this move set: a window
 * someone else set meanwhile is theirs, and stays. */
function undoOf(moved: Rescheduled | null, handed: Reassigned | null): (() => Promise<string>) | undefined {
  const times = moved?.undo ?? null;
  if (handed?.undo && times) {
    return async () => {
      const owner = await undoReassign(handed);
      const job = await api.job(times.job_id);
      const schedule = job.groups.find((g) => g.group === "schedule");
      const values = (schedule?.values ?? {}) as { window_start?: string; window_end?: string };
      const same = (a: string | undefined, b: string | null) => !!a && !!b && new Date(a).getTime() === new Date(b).getTime();
      if (!schedule || !same(values.window_start, moved?.job.window_start ?? null) || !same(values.window_end, moved?.job.window_end ?? null)) {
        return `${owner} Its time was changed by someone else since, so it stays as they set it.`;
      }
      return `${owner} ${await undoReschedule({ ...times, base_version: schedule.version })}`;
    };
  }
  if (handed?.undo) return () => undoReassign(handed);
  if (times) return () => undoReschedule(times);
  return undefined;
}

/** The Move dialog: the keyboard way of every drag, and where a drop onto someone else lands.
 * Who (a technician or a team, with their devices' health), the day and the window; when the job
 * changes hands, the current owner's device warning and a reason, and the reassignment carries
 * the ownership epoch that warning was about. */
function Move({
  moving,
  technicians,
  teams,
  onClose,
  onReschedule,
  onChecked,
  onDone,
}: {
  moving: Moving;
  technicians: OwnerView[];
  teams: OwnerView[];
  onClose: () => void;
  onReschedule: (job: ScheduledJob, start: number, end: number) => Promise<Rescheduled | null>;
  /** The check read the device list afresh: the board behind reads it too, so both say one thing. */
  onChecked: () => void;
  onDone: (done: Notice) => void;
}) {
  const { job, target } = moving;
  const owner = ownerKey(job.card.owner);
  const w = windowOf(job);
  const startAt = target?.start ?? w?.[0] ?? null;
  const length = w ? w[1] - w[0] : 2 * HOUR;
  const [who, setWho] = useState(target ? ownerKey(target) : owner);
  const [date, setDate] = useState(startAt !== null ? dateInput(startAt) : "");
  const [start, setStart] = useState(startAt !== null ? timeInput(startAt) : "");
  const [end, setEnd] = useState(startAt !== null ? timeInput(startAt + length) : "");
  const [reason, setReason] = useState("");
  const [check, setCheck] = useState<ReassignCheck | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  useEscape(onClose);
  useEffect(() => {
    api
      .reassignCheck(job.card.id)
      .then((c) => (setCheck(c), onChecked()))
      .catch((e) => setError(errorText(e)));
  }, [job.card.id]);
  const handsChange = who !== owner;
  const timeChanged = date !== "" && start !== "" && end !== "" && (w === null || fromInputs(date, start) !== w[0] || fromInputs(date, end) !== w[1]);
  const bad = date !== "" && start !== "" && end !== "" && fromInputs(date, end) <= fromInputs(date, start);
  // Who it can go to, with their devices' health from the check's fresh read of the device list
  // (the warning's read), so the list and the warning never give one device two "last seen";
  // the board's own list until the check answers.
  const current = check?.current_owner ?? job.card.owner;
  const people = [
    current.kind === "user" ? current : null,
    ...(check?.candidates ?? technicians).filter((t) => !(current.kind === "user" && t.name === current.name)),
  ].filter(Boolean) as OwnerView[];
  const teamList = [current.kind === "team" ? current : null, ...(check?.teams ?? teams).filter((t) => !(current.kind === "team" && t.name === current.name))].filter(
    Boolean,
  ) as OwnerView[];
  // Begun on the technician's tablet (working on it, or paused part-way): giving it away takes
  // it off that tablet mid-work, which the dialog says before it is done.
  const started = job.started && job.card.owner.kind === "user";
  const whoName = (key: string) => [...people, ...teamList].find((p) => ownerKey(p) === key)?.display_name ?? key;
  const submit = async () => {
    setSaving(true);
    setError(null);
    const said: string[] = [];
    let moved: Rescheduled | null = null;
    let handed: Reassigned | null = null;
    try {
      // Time first: it keeps the owner, on the version the board showed. A reassignment after it
      // is checked on the ownership epoch its warning was about, which a reschedule leaves alone.
      if (timeChanged) {
        const from = fromInputs(date, start);
        const to = fromInputs(date, end);
        moved = await onReschedule(job, from, to);
        if (!moved) {
          setSaving(false);
          onClose();
          return;
        }
        said.push(`${job.card.number ?? "The job"} moved to ${shortDay(from)} ${timeRange(from, to)}`);
      }
      if (handsChange && check) {
        handed = await api.reassign({ job_id: job.card.id, ...targetOf(who), owner_epoch: check.owner_epoch, reason: reason.trim() });
        said.push(`${job.card.number ?? "The job"} reassigned from ${handed.from.display_name} to ${handed.to.display_name}`);
      }
      onDone({ text: said.length ? `${said.join("; ")}.` : "Nothing moved.", undo: undoOf(moved, handed) });
    } catch (e) {
      setError(errorText(e));
      api.reassignCheck(job.card.id).then(setCheck).catch(() => undefined);
    } finally {
      setSaving(false);
    }
  };
  return (
    <div className="sched-backdrop">
      <div className="dialog sched-dialog" role="dialog" aria-modal="true" aria-label="Move job">
        <h3>
          Move {job.card.number ?? "job"} <span className="muted small">{job.card.customer} · {job.card.summary}</span>
        </h3>
        <p>
          Now with <strong>{job.card.owner.display_name}</strong>, {span(job)}
          {w ? `, ${shortDay(w[0])}` : ""}.
        </p>
        {handsChange && <OwnerWarning warning={check?.warning ?? null} />}
        <label>
          Who
          <select value={who} onChange={(e) => setWho(e.target.value)} aria-label="Technician or team" autoFocus>
            <OwnerOptions people={people} teams={teamList} />
          </select>
        </label>
        <div className="sched-when">
          <label>
            Day
            <input type="date" value={date} onChange={(e) => setDate(e.target.value)} aria-label="Day" />
          </label>
          <label>
            From
            <input type="time" step={900} value={start} onChange={(e) => setStart(e.target.value)} aria-label="From" />
          </label>
          <label>
            To
            <input type="time" step={900} value={end} onChange={(e) => setEnd(e.target.value)} aria-label="To" />
          </label>
        </div>
        {bad && <p className="error">The window's end must come after its start.</p>}
        {handsChange && started && (
          <p className="warning-box" data-testid="started-warning">
            {job.card.owner.display_name} has started this job; giving it to {who.startsWith("team:") ? `the ${whoName(who)}` : whoName(who)} takes it off{" "}
            {job.card.owner.device ?? `${job.card.owner.display_name}'s device`}: what it has not synced is held for review.
          </p>
        )}
        {handsChange && (
          <>
            <p className="muted small">
              {whoName(who)} gets the job at their next sync; {job.card.owner.display_name}'s device learns it is no longer theirs, and anything it sends for
              the job after that waits in the review inbox.
            </p>
            <label>
              Why does it move?
              <input name="reason" value={reason} onChange={(e) => setReason(e.target.value)} />
            </label>
          </>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button disabled={saving || bad || (!handsChange && !timeChanged) || (handsChange && (!reason.trim() || !check))} onClick={submit}>
            {handsChange ? "Reassign" : "Move"}
          </button>
          <button className="secondary" onClick={onClose}>
            Cancel
          </button>
        </div>
      </div>
    </div>
  );
}
