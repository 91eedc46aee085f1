// The one typed API module of the UI. It picks the transport: Tauri's IPC inside the desktop
// shell, or the loopback bridge (with the per-run secret from the page's address) in a browser.
import type { AppError } from "./bindings/AppError";
import type { BoardFilter } from "./bindings/BoardFilter";
import type { CreateJobResult } from "./bindings/CreateJobResult";
import type { CustomerDetail } from "./bindings/CustomerDetail";
import type { CustomerView } from "./bindings/CustomerView";
import type { InvoiceCard } from "./bindings/InvoiceCard";
import type { JobCard } from "./bindings/JobCard";
import type { RuleView } from "./bindings/RuleView";
import type { JobDetail } from "./bindings/JobDetail";
import type { NewJobForm } from "./bindings/NewJobForm";
import type { ReassignArgs } from "./bindings/ReassignArgs";
import type { ReassignCheck } from "./bindings/ReassignCheck";
import type { ReopenArgs } from "./bindings/ReopenArgs";
import type { ResolveArgs } from "./bindings/ResolveArgs";
import type { ReportArgs } from "./bindings/ReportArgs";
import type { ReportCsv } from "./bindings/ReportCsv";
import type { ReportView } from "./bindings/ReportView";
import type { ReviewCard } from "./bindings/ReviewCard";
import type { SaveGroupArgs } from "./bindings/SaveGroupArgs";
import type { SaveResult } from "./bindings/SaveResult";
import type { SessionInfo } from "./bindings/SessionInfo";
import type { SignInArgs } from "./bindings/SignInArgs";
import type { StatusArgs } from "./bindings/StatusArgs";
import type { SyncBanner } from "./bindings/SyncBanner";

export class ApiError extends Error {
  code: string;
  constructor(e: AppError) {
    super(e.message);
    this.code = e.code;
  }
}

type TauriInternals = { invoke: (cmd: string, args?: Record<string, unknown>) => Promise<unknown> };

function tauri(): TauriInternals | undefined {
  return (window as unknown as { __TAURI_INTERNALS__?: TauriInternals }).__TAURI_INTERNALS__;
}

const secret = new URLSearchParams(window.location.search).get("s") ?? "";

async function call<T>(command: string, args: unknown = null): Promise<T> {
  const ipc = tauri();
  if (ipc) {
    try {
      return (await ipc.invoke("call", { command, args })) as T;
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
  return body as T;
}

export const api = {
  session: () => call<SessionInfo | null>("session"),
  signIn: (args: SignInArgs) => call<SessionInfo>("sign_in", args),
  signOut: () => call<null>("sign_out"),
  syncStatus: () => call<SyncBanner>("sync_status"),
  syncNow: () => call<SyncBanner>("sync_now"),
  board: (filter: BoardFilter) => call<JobCard[]>("board", filter),
  customers: () => call<CustomerView[]>("customers"),
  customer: (customerId: string) => call<CustomerDetail>("customer", { customer_id: customerId }),
  saveGroup: (args: SaveGroupArgs) => call<SaveResult>("save_group", args),
  job: (jobId: string) => call<JobDetail>("job", { job_id: jobId }),
  inbox: () => call<ReviewCard[]>("inbox"),
  resolve: (args: ResolveArgs) => call<ReviewCard>("resolve", args),
  reassignCheck: (jobId: string) => call<ReassignCheck>("reassign_check", { job_id: jobId }),
  reassign: (args: ReassignArgs) => call<JobCard>("reassign", args),
  reopen: (args: ReopenArgs) => call<JobDetail>("reopen", args),
  setStatus: (args: StatusArgs) => call<SaveResult>("set_status", args),
  createJob: (form: NewJobForm) => call<CreateJobResult>("create_job", form),
  rules: () => call<RuleView[]>("rules"),
  invoices: () => call<InvoiceCard[]>("invoices"),
  report: (args: ReportArgs) => call<ReportView>("report", args),
  reportCsv: (args: ReportArgs) => call<ReportCsv>("report_csv", args),
};
