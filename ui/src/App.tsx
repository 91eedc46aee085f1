// The app's shell: the session (sign-in until there is one), the header's navigation, the sync
// banner, and which page is shown. Each page lives in its own file under pages/.
import { useEffect, useState } from "react";
import { api, ApiError, onChanged, onMenu } from "./api";
import type { DeskView } from "./bindings/DeskView";
import type { SessionInfo } from "./bindings/SessionInfo";
import type { SyncBanner } from "./bindings/SyncBanner";
import { Banner } from "./components/Banner";
import { ChangePassword } from "./components/ChangePassword";
import { DeskForm } from "./components/DeskSettings";
import { SignIn } from "./components/SignIn";
import { Board } from "./pages/Board";
import { Customers } from "./pages/Customers";
import { Inbox } from "./pages/Inbox";
import { Invoices } from "./pages/Invoices";
import { Job } from "./pages/Job";
import { People } from "./pages/People";
import { SyncReview } from "./pages/Review";
import { Rules } from "./pages/Rules";
import { Schedule } from "./pages/Schedule";

/**
 * Notices come in bursts (a round that pulls and pushes publishes several): the page reads
 * again once per burst, this long after its first notice. Not a refresh timer: nothing is read
 * unless the app said something changed.
 */
const COALESCE_MS = 50;

/** A banner to start from when the page has heard nothing from the app yet. */
const EMPTY_BANNER: SyncBanner = {
  level: "pending",
  text: "",
  next_sync: null,
  changes_pending: 0,
  files_pending: 0,
  server_reachable: false,
  synced: false,
  needs_review: 0,
  summary: [],
  summary_at: null,
  signed_out: null,
};

export function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [banner, setBanner] = useState<SyncBanner | null>(null);
  const [view, setView] = useState<"board" | "schedule" | "inbox" | "customers" | "invoices" | "rules" | "report" | "people">("board");
  const [changingPassword, setChangingPassword] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [tick, setTick] = useState(0);
  // Why the server ended this device's session, for the sign-in screen (none when the person
  // signed out themselves).
  const [signedOut, setSignedOut] = useState<string | null>(null);
  // This computer's settings and whose work waits on it (none for an app with no desk), and
  // whether its settings are open (a screen before sign-in, a dialog after).
  const [desk, setDesk] = useState<DeskView | null | undefined>(undefined);
  const [settingsOpen, setSettingsOpen] = useState(false);
  // What the last sign-out left unsynced on this computer, said once on the sign-in screen.
  const [left, setLeft] = useState<string | null>(null);
  const readDesk = () =>
    api
      .desk()
      .then(setDesk)
      .catch(() => setDesk(null));
  // Back to the sign-in screen: nothing of the last person's stays on screen for the next one
  // (their page, their open job, their banner), and the list of who waits here is read again.
  const leave = () => {
    setSession(null);
    setBanner(null);
    setSelected(null);
    setView("board");
    setChangingPassword(false);
    setSettingsOpen(false);
    void readDesk();
  };
  useEffect(() => {
    api.session().then(setSession).catch(() => setSession(null));
    void readDesk();
    api
      .syncStatus()
      .then((b) => setSignedOut(b.signed_out))
      .catch(() => undefined);
  }, []);
  useEffect(() => {
    if (!session) return;
    // Live, not polled: the banner and every page read again when the app's sync loop says
    // something changed (a save, a round, the server gone or back, the device list).
    let pending: number | null = null;
    const refresh = () => {
      pending = null;
      api
        .syncStatus()
        .then((b) => {
          if (b.signed_out !== null) {
            // The server refused this device's sign-in: say why on the sign-in screen.
            setSignedOut(b.signed_out);
            leave();
            return;
          }
          setBanner(b);
        })
        .catch((e) => {
          // The page lost the app itself (a browser tab whose `fieldsync app` stopped): the
          // banner must not go on saying what it said last, "Synced" least of all.
          if (e instanceof ApiError && e.code === "app_unreachable") {
            setBanner((b) => ({
              ...(b ?? EMPTY_BANNER),
              level: "failed",
              text: "This page lost the Fieldsync app on this computer. Your saved work is safe in the app; this page shows it again when the app runs.",
              synced: false,
              summary: [],
              summary_at: null,
            }));
          }
        });
      setTick((t) => t + 1);
    };
    refresh();
    const stop = onChanged(() => {
      if (pending === null) pending = window.setTimeout(refresh, COALESCE_MS);
    });
    return () => {
      stop();
      if (pending !== null) window.clearTimeout(pending);
    };
  }, [session]);
  // "Settings…" in the desktop menu, signed in or not.
  useEffect(() => onMenu((id) => id === "settings" && setSettingsOpen(true)), []);
  // The desktop menu's choices (and their shortcuts); a browser has no menu.
  useEffect(() => {
    if (!session) return;
    return onMenu((id) => {
      if (id === "sync-now") void api.syncNow().then(setBanner);
      else if (id === "password") setChangingPassword(true);
      else if (id === "board" || id === "find") {
        setView("board");
        if (id === "find") window.setTimeout(() => document.querySelector<HTMLInputElement>("input[aria-label='Search jobs']")?.focus(), 0);
      } else if (id === "inbox") setView("inbox");
    });
  }, [session]);
  if (session === undefined || desk === undefined) return <p className="muted">Starting…</p>;
  // No server address yet: nothing else can work, so the first run asks for it.
  if (session === null && desk?.first_run) return <DeskForm desk={desk} mode="first-run" onSaved={setDesk} />;
  if (session === null && desk && settingsOpen)
    return (
      <DeskForm
        desk={desk}
        mode="screen"
        onSaved={(d) => {
          setDesk(d);
          setSettingsOpen(false);
        }}
        onClose={() => setSettingsOpen(false)}
      />
    );
  if (session === null)
    return (
      <SignIn
        reason={signedOut}
        left={left}
        desk={desk}
        onSettings={() => setSettingsOpen(true)}
        onSignedIn={(s) => {
          setSignedOut(null);
          setLeft(null);
          setSettingsOpen(false);
          void readDesk();
          setSession(s);
        }}
      />
    );
  // A password an admin set (a first one, a reset) is replaced before anything else.
  if (session.must_change_password)
    return (
      <ChangePassword
        required
        onDone={() => {
          api.session().then(setSession).catch(() => setSession(null));
        }}
      />
    );
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
          <button className={view === "board" ? "current" : "secondary"} aria-current={view === "board" ? "page" : undefined} onClick={() => setView("board")}>
            Board
          </button>
          <button className={view === "schedule" ? "current" : "secondary"} aria-current={view === "schedule" ? "page" : undefined} onClick={() => setView("schedule")}>
            Schedule
          </button>
          <button className={view === "inbox" ? "current" : "secondary"} aria-current={view === "inbox" ? "page" : undefined} onClick={() => setView("inbox")}>
            Review inbox
          </button>
          {session.can.edit_customers && (
            <button className={view === "customers" ? "current" : "secondary"} aria-current={view === "customers" ? "page" : undefined} onClick={() => setView("customers")}>
              Customers
            </button>
          )}
          {session.can.finance && (
            <button className={view === "invoices" ? "current" : "secondary"} aria-current={view === "invoices" ? "page" : undefined} onClick={() => setView("invoices")}>
              Invoices
            </button>
          )}
          <button className={view === "rules" ? "current" : "secondary"} aria-current={view === "rules" ? "page" : undefined} onClick={() => setView("rules")}>
            Sync rules
          </button>
          {session.can.sync_review && (
            <button className={view === "report" ? "current" : "secondary"} aria-current={view === "report" ? "page" : undefined} onClick={() => setView("report")}>
              Sync review
            </button>
          )}
          {session.can.administer && (
            <button className={view === "people" ? "current" : "secondary"} aria-current={view === "people" ? "page" : undefined} onClick={() => setView("people")}>
              People and devices
            </button>
          )}
        </nav>
        <span className="who">
          {session.display_name} · {session.role}
          <button className="secondary" onClick={() => setChangingPassword(true)}>
            Password…
          </button>
          {desk && (
            <button className="secondary" onClick={() => setSettingsOpen(true)}>
              Settings…
            </button>
          )}
          <button
            className="secondary"
            onClick={async () => {
              const out = await api.signOut();
              setLeft(out.message);
              leave();
            }}
          >
            Sign out
          </button>
        </span>
      </header>
      <Banner banner={banner} onSyncNow={syncNow} busy={busy} onReview={() => setView("inbox")} />
      <main>
        {changingPassword && <ChangePassword required={false} onDone={() => setChangingPassword(false)} />}
        {settingsOpen && desk && <DeskForm desk={desk} mode="dialog" onSaved={setDesk} onClose={() => setSettingsOpen(false)} />}
        {view === "people" && <People refreshKey={tick} />}
        {view === "board" && <Board session={session} onOpen={setSelected} onReview={() => setView("inbox")} refreshKey={tick} />}
        {view === "inbox" && <Inbox onChanged={() => setTick((t) => t + 1)} refreshKey={tick} onOpenJob={(id) => { setSelected(id); setView("board"); }} />}
        {view === "customers" && (
          <Customers
            refreshKey={tick}
            onOpenJob={(id) => {
              setSelected(id);
              setView("board");
            }}
          />
        )}
        {view === "invoices" && (
          <Invoices
            states={session.invoice_states}
            refreshKey={tick}
            onReview={() => setView("inbox")}
            onOpenJob={(id) => {
              setSelected(id);
              setView("board");
            }}
          />
        )}
        {view === "rules" && <Rules />}
        {view === "report" && (
          <SyncReview
            onOpenJob={(id) => {
              setSelected(id);
              setView("board");
            }}
          />
        )}
        {view === "schedule" && <Schedule session={session} onOpen={setSelected} refreshKey={tick} />}
        {selected && (view === "board" || view === "schedule") && <Job jobId={selected} onClose={() => setSelected(null)} onReview={() => setView("inbox")} refreshKey={tick} />}
      </main>
    </div>
  );
}
