// The one typed API module of the UI. Every command's arguments and answer come from the
// command table generated from Rust (`bindings/commands.ts`), so a wrong argument or a misread
// answer does not compile. It picks the transport: Tauri's IPC inside the desktop shell, or the
// loopback bridge (with the per-run secret from the page's address) in a browser.
import { invoke, isTauri } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type { AddAccountArgs } from "./bindings/AddAccountArgs";
import type { AppError } from "./bindings/AppError";
import type { ChangeAccountArgs } from "./bindings/ChangeAccountArgs";
import type { DeskSettings } from "./bindings/DeskSettings";
import type { DeviceArgs } from "./bindings/DeviceArgs";
import type { OwnPasswordArgs } from "./bindings/OwnPasswordArgs";
import type { ResetPasswordArgs } from "./bindings/ResetPasswordArgs";
import type { BoardFilter } from "./bindings/BoardFilter";
import type { Changed } from "./bindings/Changed";
import type { CheckGroupArgs } from "./bindings/CheckGroupArgs";
import type { Commands } from "./bindings/commands";
import type { JobDraft } from "./bindings/JobDraft";
import type { KeepArgs } from "./bindings/KeepArgs";
import type { MergeArgs } from "./bindings/MergeArgs";
import type { NewCustomerForm } from "./bindings/NewCustomerForm";
import type { NewJobForm } from "./bindings/NewJobForm";
import type { ReassignArgs } from "./bindings/ReassignArgs";
import type { ReopenArgs } from "./bindings/ReopenArgs";
import type { RescheduleArgs } from "./bindings/RescheduleArgs";
import type { ScheduleArgs } from "./bindings/ScheduleArgs";
import type { ReportArgs } from "./bindings/ReportArgs";
import type { ResolveArgs } from "./bindings/ResolveArgs";
import type { SaveCsvArgs } from "./bindings/SaveCsvArgs";
import type { SaveGroupArgs } from "./bindings/SaveGroupArgs";
import type { SignInArgs } from "./bindings/SignInArgs";
import type { StatusArgs } from "./bindings/StatusArgs";
import type { VoidArgs } from "./bindings/VoidArgs";

export class ApiError extends Error {
  code: string;
  constructor(e: AppError) {
    super(e.message);
    this.code = e.code;
  }
}

/** The sentence a failed call shows a person. */
export function errorText(e: unknown): string {
  return e instanceof ApiError ? e.message : String(e);
}

const secret = new URLSearchParams(window.location.search).get("s") ?? "";

/** Runs one command of the app's command layer, through whichever transport this page has. */
export async function call<K extends keyof Commands>(command: K, args: Commands[K]["args"]): Promise<Commands[K]["result"]> {
  if (isTauri()) {
    try {
      // The shell has one command, `call`, that forwards to the same table as the bridge.
      return await invoke<Commands[K]["result"]>("call", { command, args });
    } catch (e) {
      throw new ApiError(e as AppError);
    }
  }
  let response: Response;
  try {
    response = await fetch(`/api/${secret}/${command}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(args),
    });
  } catch {
    throw new ApiError({ code: "app_unreachable", message: "The app's own service is not answering." });
  }
  const body = await response.json();
  if (!response.ok) throw new ApiError(body as AppError);
  return body as Commands[K]["result"];
}

export const api = {
  session: () => call("session", null),
  signIn: (args: SignInArgs) => call("sign_in", args),
  signOut: () => call("sign_out", null),
  /** This computer's settings and whose work waits on it; null for an app with no desk. */
  desk: () => call("desk", null),
  /** Asks an address's /healthz; the answer's sentence says what came back, good or bad. */
  checkServer: (server: string) => call("check_server", { server }),
  /** Checks the address, then keeps both settings; refused (`server_check`, `invalid`,
   * `fixed_settings`) with the sentence to show. */
  saveSettings: (settings: DeskSettings) => call("save_settings", settings),
  syncStatus: () => call("sync_status", null),
  syncNow: () => call("sync_now", null),
  /** A fresh id for a form, made when it opens: saving the same form twice is one change. */
  newActionId: () => call("new_action_id", null),
  board: (filter: BoardFilter) => call("board", filter),
  /** The board's list as it draws: the matching total and the rows from `offset` (`limit` of them). */
  boardPage: (filter: BoardFilter) => call("board_page", filter),
  customers: () => call("customers", null),
  assignees: () => call("assignees", null),
  customer: (customerId: string) => call("customer", { customer_id: customerId }),
  /** A new customer after the match-before-create check (`matches` instead, unless confirmed). */
  createCustomer: (form: NewCustomerForm) => call("create_customer", form),
  customerDraft: () => call("customer_draft", null),
  saveCustomerDraft: (form: NewCustomerForm) => call("save_customer_draft", form),
  discardCustomerDraft: (actionId: string) => call("discard_customer_draft", { action_id: actionId }),
  saveGroup: (args: SaveGroupArgs) => call("save_group", args),
  /** The field rules' sentences for a form's values, field by field, before anything is sent. */
  checkGroup: (args: CheckGroupArgs) => call("check_group", args),
  job: (jobId: string) => call("job", { job_id: jobId }),
  /** A job's photos (thumbnails), signature, parts and notes, from the files kept on this computer. */
  fieldSent: (jobId: string) => call("field_sent", { job_id: jobId }),
  /** One photo at screen size, for its dialog. */
  fieldPhoto: (sha256: string) => call("field_photo", { sha256 }),
  inbox: () => call("inbox", null),
  resolve: (args: ResolveArgs) => call("resolve", args),
  /** "Keep current" on a card: every held version of it, on the version the card showed. */
  keepCurrent: (args: KeepArgs) => call("keep_current", args),
  /** "Save merged" on a card: the group's merged value, settling every held version of it. */
  merge: (args: MergeArgs) => call("merge", args),
  reassignCheck: (jobId: string) => call("reassign_check", { job_id: jobId }),
  reassign: (args: ReassignArgs) => call("reassign", args),
  /** The schedule board for [from, to): RFC 3339 instants from the person's local midnight. */
  schedule: (args: ScheduleArgs) => call("schedule", args),
  /** Moves a job in time on the schedule version the board showed; it keeps its owner. */
  reschedule: (args: RescheduleArgs) => call("reschedule", args),
  reopen: (args: ReopenArgs) => call("reopen", args),
  voidJob: (args: VoidArgs) => call("void_job", args),
  setStatus: (args: StatusArgs) => call("set_status", args),
  createJob: (form: NewJobForm) => call("create_job", form),
  jobDraft: () => call("job_draft", null),
  saveJobDraft: (draft: JobDraft) => call("save_job_draft", draft),
  discardJobDraft: (actionId: string) => call("discard_job_draft", { action_id: actionId }),
  rules: () => call("rules", null),
  invoices: () => call("invoices", null),
  /** One invoice's panel: its lines and totals, and what this person may do to it now. */
  invoice: (invoiceId: string) => call("invoice", { invoice_id: invoiceId }),
  /** The jobs finance may invoice, each with the lines it suggests. */
  invoiceJobs: () => call("invoice_jobs", null),
  /** The invoice form's totals as the core computes them, with each box's sentence. */
  invoiceTotals: (form: Commands["invoice_totals"]["args"]) => call("invoice_totals", form),
  createInvoice: (args: Commands["create_invoice"]["args"]) => call("create_invoice", args),
  /** A draft's lines, tax and currency, on the version its form opened on. */
  saveInvoice: (args: Commands["save_invoice"]["args"]) => call("save_invoice", args),
  /** Send (its totals lock) or mark paid, on the status version the panel showed. */
  setInvoiceStatus: (args: Commands["set_invoice_status"]["args"]) => call("set_invoice_status", args),
  voidInvoice: (args: Commands["void_invoice"]["args"]) => call("void_invoice", args),
  /** A totals conflict's versions line by line, from the values its card showed. */
  compareTotals: (args: Commands["compare_totals"]["args"]) => call("compare_totals", args),
  /** Where the invoices' CSV's save dialog opens. */
  invoiceExport: (args: Commands["invoice_export"]["args"]) => call("invoice_export", args),
  /** The invoices' CSV written as a file: at `path`, or in the app's exports folder. */
  saveInvoicesCsv: (args: Commands["save_invoices_csv"]["args"]) => call("save_invoices_csv", args),
  report: (args: ReportArgs) => call("report", args),
  reportCsv: (args: ReportArgs) => call("report_csv", args),
  /** The sync review's CSV written as a file: at `path`, or in the app's exports folder. */
  saveReportCsv: (args: SaveCsvArgs) => call("save_report_csv", args),
  people: () => call("people", null),
  addAccount: (args: AddAccountArgs) => call("add_account", args),
  changeAccount: (args: ChangeAccountArgs) => call("change_account", args),
  resetPassword: (args: ResetPasswordArgs) => call("reset_password", args),
  revokeDevice: (args: DeviceArgs) => call("revoke_device", args),
  changeOwnPassword: (args: OwnPasswordArgs) => call("change_own_password", args),
};

/** The window event the desktop shell emits for each change notice (`live::TAURI_EVENT`). */
const CHANGED_EVENT = "fieldsync://changed";

/** What a notice says when the listener cannot know what changed (it just (re)connected). */
const EVERYTHING: Changed = { status: true, records: true, reviews: true, devices: true };

/**
 * Calls `onChange` whenever the app's own sync loop changed something (a save, a round that
 * pulled or pushed, the server gone or back, the device list): the app's change notices, so
 * screens read again when there is something new instead of polling. Inside the desktop shell
 * they are its window event; in a browser, the loopback bridge's SSE stream, which also says
 * "everything" each time it (re)connects, since anything may have changed unheard. Returns the
 * function that stops listening.
 */
export function onChanged(onChange: (changed: Changed) => void): () => void {
  if (isTauri()) {
    let stop: (() => void) | null = null;
    let stopped = false;
    listen<Changed>(CHANGED_EVENT, (event) => onChange(event.payload)).then((unlisten) => {
      if (stopped) unlisten();
      else stop = unlisten;
    });
    return () => {
      stopped = true;
      stop?.();
    };
  }
  const source = new EventSource(`/api/${secret}/events`);
  source.addEventListener("open", () => onChange(EVERYTHING));
  // The stream broke (the app stopped, or is restarting): the page reads again, so a banner
  // whose app is gone says so instead of what it said last. EventSource reconnects by itself.
  source.addEventListener("error", () => onChange(EVERYTHING));
  source.addEventListener("changed", (event) => {
    let changed = EVERYTHING;
    try {
      changed = JSON.parse((event as MessageEvent<string>).data) as Changed;
    } catch {
      // An unreadable notice still means something changed.
    }
    onChange(changed);
  });
  return () => source.close();
}

/** The window event the desktop shell's menu sends, with the choice's id. */
const MENU_EVENT = "fieldsync://menu";

/**
 * Calls `onChoice` with the id of each menu choice (`sync-now`, `find`, `board`, `inbox`,
 * `password`, `settings`) the desktop shell's menu sends; a browser has no such menu, so there it does
 * nothing. Returns the function that stops listening.
 */
export function onMenu(onChoice: (id: string) => void): () => void {
  if (!isTauri()) return () => undefined;
  let stop: (() => void) | null = null;
  let stopped = false;
  listen<string>(MENU_EVENT, (event) => onChoice(event.payload)).then((unlisten) => {
    if (stopped) unlisten();
    else stop = unlisten;
  });
  return () => {
    stopped = true;
    stop?.();
  };
}
