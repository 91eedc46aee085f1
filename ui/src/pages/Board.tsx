// The board's list: every job the person may see, searchable and filtered by status, with the
// new job form for those who may create one. An office has thousands of jobs, so the list draws
// only the rows on screen (and a few either side) and asks the command layer for just those
// (`board_page`: the matching total and the rows from an offset); the scroll area is as tall as
// every matching row would be, so the scrollbar and the keyboard move through all of them.
//
// The windowing is written here rather than taken from a virtual-list library: the rows have one
// fixed height, the list is a real table (its header, its rows and their ARIA row numbers stay
// what assistive technology and the tests read), and what is fetched follows the window, which a
// library would leave to this page anyway; the arithmetic below is all there is to it.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { api, errorText } from "../api";
import type { BoardPage } from "../bindings/BoardPage";
import type { JobCard } from "../bindings/JobCard";
import type { SessionInfo } from "../bindings/SessionInfo";
import type { State } from "../bindings/State";
import { NewJob } from "../components/NewJob";
import { Owner } from "../components/Owner";
import { pretty } from "../format";

/** Every row's height in pixels (two lines of text and the cell padding; see `.board-list`). */
const ROW = 58;
/** The header row's height. */
const HEAD = 34;
/** Rows drawn beyond the visible ones on each side, so a quick scroll shows no gap. */
const OVERSCAN = 8;
/** Rows fetched per request: a few screens, so scrolling within them asks for nothing. */
const BLOCK = 120;

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
  const [text, setText] = useState("");
  const [state, setState] = useState<State | "">("");
  const [page, setPage] = useState<BoardPage>({ total: 0, jobs: 0, offset: 0, rows: [] });
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const scroller = useRef<HTMLDivElement>(null);
  /** The row to focus once it is drawn (arrow keys move past the drawn ones). */
  const [focusAt, setFocusAt] = useState<number | null>(null);
  /** Only the newest request's answer is shown: an older one may arrive after it. */
  const asked = useRef(0);

  const first = Math.max(0, Math.floor((scrollTop - HEAD) / ROW) - OVERSCAN);
  const last = Math.min(page.total, Math.ceil((scrollTop + height) / ROW) + OVERSCAN);

  const fetchAround = useCallback(
    (from: number) => {
      const n = ++asked.current;
      // A little before the window, most of the block after it: people scroll down more.
      const offset = Math.max(0, from - 2 * OVERSCAN);
      api
        .boardPage({ text, state: state || null, offset, limit: BLOCK })
        .then((p) => {
          if (n !== asked.current) return;
          setPage(p);
          setLoaded(true);
          setError(null);
        })
        .catch((e) => n === asked.current && setError(errorText(e)));
    },
    [text, state],
  );

  // A new search or status: from the top.
  useEffect(() => {
    scroller.current?.scrollTo({ top: 0 });
    setScrollTop(0);
    fetchAround(0);
  }, [fetchAround]);

  // Something changed on this device (the change notices): the rows on screen again.
  useEffect(() => {
    if (refreshKey > 0) fetchAround(first);
    // Only the notice asks again; scrolling asks below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [refreshKey]);

  // Scrolled past what was fetched: the rows around the window.
  useEffect(() => {
    const have = page.offset;
    const end = page.offset + page.rows.length;
    const want = Math.min(last, page.total);
    if (loaded && (first < have || want > end)) fetchAround(first);
  }, [first, last, page, loaded, fetchAround]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const measure = () => setHeight(el.clientHeight || 600);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    if (focusAt === null) return;
    const row = scroller.current?.querySelector<HTMLTableRowElement>(`tr[data-index="${focusAt}"]`);
    if (row) {
      row.focus({ preventScroll: true });
      setFocusAt(null);
    }
  });

  /** Moves the keyboard to row `i`, scrolling it into view (it may not be drawn yet). */
  const moveTo = (i: number) => {
    const el = scroller.current;
    if (!el || page.total === 0) return;
    const target = Math.max(0, Math.min(page.total - 1, i));
    const top = HEAD + target * ROW;
    if (top < el.scrollTop + HEAD) el.scrollTop = top - HEAD;
    else if (top + ROW > el.scrollTop + el.clientHeight) el.scrollTop = top + ROW - el.clientHeight;
    setScrollTop(el.scrollTop);
    setFocusAt(target);
  };

  const visible: { index: number; job: JobCard }[] = [];
  const drawFrom = Math.max(first, page.offset);
  for (let i = drawFrom; i < Math.min(last, page.offset + page.rows.length); i++) {
    visible.push({ index: i, job: page.rows[i - page.offset] });
  }
  const perScreen = Math.max(1, Math.floor((height - HEAD) / ROW));
  const searching = text.trim() !== "" || state !== "";

  return (
    <section>
      <div className="toolbar">
        <input
          type="search"
          placeholder="Search number, customer, site, owner…"
          value={text}
          onChange={(e) => setText(e.target.value)}
          aria-label="Search jobs"
          aria-controls="board-list"
        />
        <select value={state} onChange={(e) => setState(e.target.value as State | "")} aria-label="Filter by status">
          <option value="">All statuses</option>
          {session.job_states.map((s) => (
            <option key={s} value={s}>
              {pretty(s)}
            </option>
          ))}
        </select>
        <span className="muted small" role="status" data-testid="board-count">
          {searching ? `${page.total.toLocaleString()} of ${page.jobs.toLocaleString()} jobs` : `${page.total.toLocaleString()} jobs`}
        </span>
        {session.can.create_job && <NewJob />}
      </div>
      {error && <p className="error">{error}</p>}
      <div
        className="board-list"
        id="board-list"
        ref={scroller}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        data-testid="board-scroll"
      >
        <div style={{ height: HEAD + page.total * ROW, position: "relative" }}>
          <table
            className="board"
            data-testid="board"
            aria-label="Jobs"
            aria-rowcount={page.total + 1}
            style={{ position: "absolute", top: drawFrom * ROW, left: 0, right: 0 }}
          >
            <colgroup>
              <col style={{ width: "22%" }} />
              <col style={{ width: "22%" }} />
              <col style={{ width: "11%" }} />
              <col style={{ width: "28%" }} />
              <col style={{ width: "17%" }} />
            </colgroup>
            <thead>
              <tr aria-rowindex={1} style={{ height: HEAD }}>
                <th scope="col">Job</th>
                <th scope="col">Customer / site</th>
                <th scope="col">Status</th>
                <th scope="col">Owner</th>
                <th scope="col">Sync</th>
              </tr>
            </thead>
            <tbody>
              {visible.map(({ index, job }) => (
                <tr
                  key={job.id}
                  data-index={index}
                  aria-rowindex={index + 2}
                  style={{ height: ROW }}
                  onClick={() => onOpen(job.id)}
                  onKeyDown={(e) => {
                    if (e.key === "Enter" || e.key === " ") {
                      e.preventDefault();
                      onOpen(job.id);
                    } else if (e.key === "ArrowDown" || e.key === "ArrowUp" || e.key === "PageDown" || e.key === "PageUp" || e.key === "Home" || e.key === "End") {
                      e.preventDefault();
                      const step = { ArrowDown: 1, ArrowUp: -1, PageDown: perScreen, PageUp: -perScreen } as Record<string, number>;
                      moveTo(e.key === "Home" ? 0 : e.key === "End" ? page.total - 1 : index + step[e.key]);
                    }
                  }}
                  tabIndex={0}
                  aria-label={`${job.number ?? "New job"}: ${job.summary}, ${pretty(job.state)}, ${job.owner.display_name}`}
                  className="clickable"
                  data-number={job.number ?? ""}
                >
                  <td>
                    <strong>{job.number ?? "new"}</strong>
                    <div className="muted small" title={job.summary}>
                      {job.summary}
                    </div>
                  </td>
                  <td>
                    <div title={job.customer}>{job.customer}</div>
                    <div className="muted small" title={job.site}>
                      {job.site}
                    </div>
                  </td>
                  <td>
                    <span className={`pill state-${job.state}`}>{pretty(job.state)}</span>
                  </td>
                  <td>
                    <Owner owner={job.owner} />
                  </td>
                  <td>
                    <div className={`sync sync-${job.sync_level}`} title={job.sync_label}>
                      {job.sync_label}
                    </div>
                    {job.needs_review && (
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
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
      {loaded && page.total === 0 && (
        <p className="muted" data-testid="board-empty">
          {searching ? "No job matches this search." : "No jobs on this device yet."}
        </p>
      )}
    </section>
  );
}
