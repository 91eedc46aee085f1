// The one typed API module of the UI. Every command's arguments and answer are typed from the
// Rust bindings, so a wrong argument or a misread answer does not compile. It picks the
// transport: Tauri's IPC inside the desktop shell, or the loopback bridge (with the per-run
// secret from the page's address) in a browser.
import { invoke, isTauri } from "@tauri-apps/api/core";
import type { AppError } from "./bindings/AppError";
import type { BoardFilter } from "./bindings/BoardFilter";
import type { CreateJobResult } from "./bindings/CreateJobResult";
import type { CustomerArgs } from "./bindings/CustomerArgs";
import type { CustomerDetail } from "./bindings/CustomerDetail";
import type { CustomerView } from "./bindings/CustomerView";
import type { InvoiceCard } from "./bindings/InvoiceCard";
import type { JobArgs } from "./bindings/JobArgs";
import type { JobCard } from "./bindings/JobCard";
import type { JobDetail } from "./bindings/JobDetail";
import type { NewJobForm } from "./bindings/NewJobForm";
import type { ReassignArgs } from "./bindings/ReassignArgs";
import type { ReassignCheck } from "./bindings/ReassignCheck";
import type { ReopenArgs } from "./bindings/ReopenArgs";
import type { ReportArgs } from "./bindings/ReportArgs";
import type { ReportCsv } from "./bindings/ReportCsv";
import type { ReportView } from "./bindings/ReportView";
import type { ResolveArgs } from "./bindings/ResolveArgs";
import type { ReviewCard } from "./bindings/ReviewCard";
import type { RuleView } from "./bindings/RuleView";
import type { SaveGroupArgs } from "./bindings/SaveGroupArgs";
import type { SaveResult } from "./bindings/SaveResult";
import type { SessionInfo } from "./bindings/SessionInfo";
import type { SignInArgs } from "./bindings/SignInArgs";
import type { StatusArgs } from "./bindings/StatusArgs";
import type { SyncBanner } from "./bindings/SyncBanner";

/**
 * Every command of `bridge::dispatch`: its arguments and its answer. Written here from the
 * bindings until the command layer generates the same map (`bindings/commands.ts`); a command
 * without arguments takes `null`.
 */
export interface Commands {
  session: { args: null; result: SessionInfo | null };
  sign_in: { args: SignInArgs; result: SessionInfo };
  sign_out: { args: null; result: null };
  sync_status: { args: null; result: SyncBanner };
  sync_now: { args: null; result: SyncBanner };
  new_action_id: { args: null; result: { action_id: string } };
  board: { args: BoardFilter; result: JobCard[] };
  customers: { args: null; result: CustomerView[] };
  customer: { args: CustomerArgs; result: CustomerDetail };
  save_group: { args: SaveGroupArgs; result: SaveResult };
  job: { args: JobArgs; result: JobDetail };
  inbox: { args: null; result: ReviewCard[] };
  resolve: { args: ResolveArgs; result: ReviewCard };
  reassign_check: { args: JobArgs; result: ReassignCheck };
  reassign: { args: ReassignArgs; result: JobCard };
  reopen: { args: ReopenArgs; result: JobDetail };
  set_status: { args: StatusArgs; result: SaveResult };
  create_job: { args: NewJobForm; result: CreateJobResult };
  rules: { args: null; result: RuleView[] };
  invoices: { args: null; result: InvoiceCard[] };
  report: { args: ReportArgs; result: ReportView };
  report_csv: { args: ReportArgs; result: ReportCsv };
}

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
  syncStatus: () => call("sync_status", null),
  syncNow: () => call("sync_now", null),
  /** A fresh id for a form, made when it opens: saving the same form twice is one change. */
  newActionId: () => call("new_action_id", null),
  board: (filter: BoardFilter) => call("board", filter),
  customers: () => call("customers", null),
  customer: (customerId: string) => call("customer", { customer_id: customerId }),
  saveGroup: (args: SaveGroupArgs) => call("save_group", args),
  job: (jobId: string) => call("job", { job_id: jobId }),
  inbox: () => call("inbox", null),
  resolve: (args: ResolveArgs) => call("resolve", args),
  reassignCheck: (jobId: string) => call("reassign_check", { job_id: jobId }),
  reassign: (args: ReassignArgs) => call("reassign", args),
  reopen: (args: ReopenArgs) => call("reopen", args),
  setStatus: (args: StatusArgs) => call("set_status", args),
  createJob: (form: NewJobForm) => call("create_job", form),
  rules: () => call("rules", null),
  invoices: () => call("invoices", null),
  report: (args: ReportArgs) => call("report", args),
  reportCsv: (args: ReportArgs) => call("report_csv", args),
};
