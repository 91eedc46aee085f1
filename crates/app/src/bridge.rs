//! The app's command table ([`dispatch`], and [`commands`] for the UI's generated
//! `bindings/commands.ts`), and the same commands as the Tauri shell over loopback HTTP, for a
//! headless demo and browser tests. Every call over HTTP carries the per-run secret in its URL;
//! a call without it is refused.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::services::{ServeDir, ServeFile};

use std::collections::BTreeMap;
use ts_rs::{TypeVisitor, TS};

use crate::admin::{
    AccountView, AddAccountArgs, ChangeAccountArgs, DeviceArgs, OwnPasswordArgs, PeoplePage,
    ResetPasswordArgs,
};
use crate::board::{
    BoardFilter, CreateJobResult, DraftArgs, JobDraft, NewJobForm, ReassignArgs, ReassignCheck,
    Reassigned,
};
use crate::customers::{CustomerArgs, CustomerDetail, CustomerView};
use crate::edit::SaveGroupArgs;
use crate::ids::ActionId;
use crate::inbox::{KeepArgs, MergeArgs, ResolveArgs, ReviewCard};
use crate::invoices::InvoiceCard;
use crate::job::{JobDetail, ReopenArgs, StatusArgs, VoidArgs};
use crate::report::{ReportArgs, ReportCsv, ReportView, SaveCsvArgs, SavedFile};
use crate::rules::RuleView;
use crate::session::{SessionInfo, SyncBanner};
use crate::views::{JobArgs, JobCard, OwnerView, SaveResult, SignInArgs};
use crate::{App, AppError};

#[derive(Clone)]
struct Bridge {
    app: Arc<App>,
    secret: Arc<String>,
}

/// A fresh per-run secret: 32 random bytes as hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes)
}

/// The bridge's routes: `POST /api/{secret}/{command}`, `GET /api/{secret}/events` (the change
/// notices as server-sent events) and, when given, the UI's built files.
pub fn router(app: Arc<App>, secret: String, ui_dir: Option<PathBuf>) -> Router {
    let bridge = Bridge {
        app,
        secret: Arc::new(secret),
    };
    let api = Router::new()
        .route("/api/{secret}/events", get(events))
        .route("/api/{secret}/{command}", post(call))
        .with_state(bridge);
    match ui_dir {
        Some(dir) => {
            let index = dir.join("index.html");
            api.fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)))
        }
        None => api,
    }
}

fn error(status: StatusCode, e: AppError) -> Response {
    (status, Json(e)).into_response()
}

fn args<T: DeserializeOwned>(body: Value) -> Result<T, AppError> {
    serde_json::from_value(body).map_err(|e| {
        AppError::new(
            "invalid",
            format!("the command's arguments do not fit: {e}"),
        )
    })
}

fn reply<T: Serialize>(result: Result<T, AppError>) -> Result<Value, AppError> {
    result
        .and_then(|v| serde_json::to_value(v).map_err(|e| AppError::new("internal", e.to_string())))
}

/// The one table of the app's commands: each command's name, its arguments' type (none, or one
/// type read from the call's body), its answer's type, and the method it runs, written once.
/// [`dispatch`] and [`commands`] (from which `ui/src/bindings/commands.ts` is generated) are both
/// made from it, so the UI's list of commands cannot drift from the one the app answers.
macro_rules! commands {
    ($($name:ident($app:ident $(, $arg:ident: $args:ty)?) -> $result:ty $body:block)*) => {
        /// Runs one command by name.
        pub async fn dispatch(app: &App, command: &str, body: Value) -> Result<Value, AppError> {
            match command {
                $(stringify!($name) => {
                    let $app = app;
                    $(let $arg: $args = args(body)?;)?
                    let result: Result<$result, AppError> = $body;
                    reply(result)
                })*
                other => Err(AppError::new("not_found", format!("no command `{other}`"))),
            }
        }

        /// Every command of [`dispatch`] with its TypeScript types, in the table's order.
        pub fn commands() -> Vec<Command> {
            vec![$(Command::of::<args_type!($($args)?), $result>(stringify!($name))),*]
        }
    };
}

/// A command's arguments' type: `()` (TypeScript's `null`) for a command that takes none.
macro_rules! args_type {
    () => {
        ()
    };
    ($args:ty) => {
        $args
    };
}

commands! {
    session(app) -> Option<SessionInfo> { Ok(app.session().await) }
    sign_in(app, args: SignInArgs) -> SessionInfo { app.sign_in(args).await }
    sign_out(app) -> crate::session::SignedOut { app.sign_out().await }
    desk(app) -> Option<crate::desk::DeskView> { Ok(app.desk_view()) }
    check_server(_app, args: crate::desk::ServerArgs) -> crate::desk::ServerCheck { Ok(crate::desk::check_server(&args.server).await) }
    save_settings(app, settings: crate::desk::DeskSettings) -> crate::desk::DeskView { app.save_settings(settings).await }
    sync_status(app) -> SyncBanner { app.sync_status().await }
    sync_now(app) -> SyncBanner { app.sync_now().await }
    new_action_id(app) -> ActionId { app.new_action_id() }
    board(app, filter: BoardFilter) -> Vec<JobCard> { app.board(filter).await }
    board_page(app, filter: BoardFilter) -> crate::board::BoardPage { app.board_page(filter).await }
    customers(app) -> Vec<CustomerView> { app.customers().await }
    customer(app, args: CustomerArgs) -> CustomerDetail { app.customer(args.customer_id).await }
    create_customer(app, form: crate::customers::NewCustomerForm) -> crate::customers::CreateCustomerResult { app.create_customer(form).await }
    customer_draft(app) -> Option<crate::customers::CustomerDraft> { app.customer_draft().await }
    save_customer_draft(app, form: crate::customers::NewCustomerForm) -> () { app.save_customer_draft(form).await }
    discard_customer_draft(app, args: DraftArgs) -> () { app.discard_customer_draft(args).await }
    save_group(app, args: SaveGroupArgs) -> SaveResult { app.save_group(args).await }
    check_group(app, args: crate::edit::CheckGroupArgs) -> Vec<fieldsync_core::fields::FieldProblem> { app.check_group(args).await }
    job(app, args: JobArgs) -> JobDetail { app.job(args.job_id).await }
    field_sent(app, args: JobArgs) -> crate::field::FieldSent { app.field_sent(args.job_id).await }
    field_photo(app, args: crate::field::PhotoArgs) -> crate::field::Picture { app.field_photo(args).await }
    inbox(app) -> Vec<ReviewCard> { app.inbox().await }
    resolve(app, args: ResolveArgs) -> ReviewCard { app.resolve(args).await }
    keep_current(app, args: KeepArgs) -> Vec<ReviewCard> { app.keep_current(args).await }
    merge(app, args: MergeArgs) -> Vec<ReviewCard> { app.merge(args).await }
    assignees(app) -> Vec<OwnerView> { app.assignees().await }
    reassign_check(app, args: JobArgs) -> ReassignCheck { app.reassign_check(args.job_id).await }
    reassign(app, args: ReassignArgs) -> Reassigned { app.reassign(args).await }
    schedule(app, args: crate::schedule::ScheduleArgs) -> crate::schedule::ScheduleView { app.schedule(args).await }
    reschedule(app, args: crate::schedule::RescheduleArgs) -> crate::schedule::Rescheduled { app.reschedule(args).await }
    reopen(app, args: ReopenArgs) -> JobDetail { app.reopen(args).await }
    void_job(app, args: VoidArgs) -> SaveResult { app.void_job(args).await }
    set_status(app, args: StatusArgs) -> SaveResult { app.set_status(args).await }
    create_job(app, form: NewJobForm) -> CreateJobResult { app.create_job(form).await }
    job_draft(app) -> Option<JobDraft> { app.job_draft().await }
    save_job_draft(app, draft: JobDraft) -> () { app.save_job_draft(draft).await }
    discard_job_draft(app, args: DraftArgs) -> () { app.discard_job_draft(args).await }
    rules(app) -> Vec<RuleView> { app.rules().await }
    invoices(app) -> Vec<InvoiceCard> { app.invoices().await }
    invoice(app, args: crate::invoices::InvoiceArgs) -> crate::invoices::InvoiceDetail { app.invoice(args).await }
    invoice_jobs(app) -> Vec<crate::invoices::InvoiceJob> { app.invoice_jobs().await }
    invoice_totals(app, form: crate::invoices::InvoiceForm) -> crate::invoices::TotalsPreview { Ok(app.invoice_totals(form)) }
    create_invoice(app, args: crate::invoices::NewInvoiceArgs) -> crate::invoices::InvoiceSaved { app.create_invoice(args).await }
    save_invoice(app, args: crate::invoices::SaveInvoiceArgs) -> crate::invoices::InvoiceSaved { app.save_invoice(args).await }
    set_invoice_status(app, args: crate::invoices::InvoiceStatusArgs) -> SaveResult { app.set_invoice_status(args).await }
    void_invoice(app, args: crate::invoices::VoidInvoiceArgs) -> SaveResult { app.void_invoice(args).await }
    compare_totals(app, args: crate::invoices::CompareTotalsArgs) -> crate::invoices::TotalsComparison { Ok(app.compare_totals(args)) }
    invoice_export(app, args: crate::invoices::InvoiceExportArgs) -> crate::invoices::InvoiceExport { app.invoice_export(args).await }
    save_invoices_csv(app, args: crate::invoices::SaveInvoicesCsvArgs) -> SavedFile { app.save_invoices_csv(args).await }
    report(app, args: ReportArgs) -> ReportView { app.report(args).await }
    report_csv(app, args: ReportArgs) -> ReportCsv { app.report_csv(args).await }
    save_report_csv(app, args: SaveCsvArgs) -> SavedFile { app.save_report_csv(args).await }
    people(app) -> PeoplePage { app.people().await }
    add_account(app, args: AddAccountArgs) -> AccountView { app.add_account(args).await }
    change_account(app, args: ChangeAccountArgs) -> AccountView { app.change_account(args).await }
    reset_password(app, args: ResetPasswordArgs) -> AccountView { app.reset_password(args).await }
    revoke_device(app, args: DeviceArgs) -> () { app.revoke_device(args).await }
    change_own_password(app, args: OwnPasswordArgs) -> () { app.change_own_password(args).await }
}

/// One command of the table as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: &'static str,
    /// Its arguments' TypeScript type (`null` when it takes none).
    pub args: String,
    /// Its answer's TypeScript type.
    pub result: String,
    /// The generated types the two name: type name -> its file under `ui/src/bindings`.
    pub types: BTreeMap<String, PathBuf>,
}

impl Command {
    fn of<A: TS + 'static, R: TS + 'static>(name: &'static str) -> Command {
        let mut types = BTreeMap::new();
        Exported(&mut types).visit::<A>();
        Exported(&mut types).visit::<R>();
        Command {
            name,
            args: A::name(),
            result: R::name(),
            types,
        }
    }
}

/// Collects the exported types a type is made of at its top level (itself, or what an `Option`
/// or a `Vec` holds): the ones a TypeScript file naming it has to import.
struct Exported<'a>(&'a mut BTreeMap<String, PathBuf>);

impl TypeVisitor for Exported<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if let Some(path) = T::output_path() {
            self.0.insert(T::ident(), path.to_path_buf());
        }
        T::visit_generics(self);
    }
}

/// `ui/src/bindings/commands.ts`: the [`commands`] table as one TypeScript interface, importing
/// the ts-rs types it names (the file sits beside them).
pub fn commands_typescript() -> String {
    let commands = commands();
    let mut imports = BTreeMap::new();
    for command in &commands {
        imports.extend(command.types.clone());
    }
    let mut out = String::from(
        "// Generated from the command table in crates/app/src/bridge.rs by `cargo test -p \
         fieldsync-app` (tests/commands.rs). Do not edit this file manually.\n",
    );
    for (name, path) in &imports {
        let module = path.with_extension("");
        let module = module.to_string_lossy().replace('\\', "/");
        out.push_str(&format!("import type {{ {name} }} from \"./{module}\";\n"));
    }
    out.push_str(
        "\n/**\n * Every command of the app's command layer (`bridge::dispatch`): its arguments and \
         its answer.\n * A command without arguments takes `null`.\n */\nexport interface Commands {\n",
    );
    for command in &commands {
        out.push_str(&format!(
            "  {}: {{ args: {}; result: {} }};\n",
            command.name, command.args, command.result
        ));
    }
    out.push_str("}\n\n/** The name of a command. */\nexport type CommandName = keyof Commands;\n");
    out
}

/// Whether `given` is the per-run secret. Compared in full whatever the length: this is the only
/// thing between another local program and the office's session.
fn secret_ok(bridge: &Bridge, given: &str) -> bool {
    let expected = bridge.secret.as_bytes();
    let given = given.as_bytes();
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn forbidden() -> Response {
    error(
        StatusCode::FORBIDDEN,
        AppError::new(
            "forbidden",
            "this address needs the per-run secret the app printed",
        ),
    )
}

/// `GET /api/{secret}/events`: the app's change notices (`live::Changed`, as JSON in `changed`
/// events), the same the Tauri shell emits to its window, so a browser page refreshes when the
/// sync loop changed something instead of polling. Kept alive with comments so a proxy or the
/// browser does not close an idle stream; a listener that fell behind gets "everything".
async fn events(State(bridge): State<Bridge>, Path(secret): Path<String>) -> Response {
    if !secret_ok(&bridge, &secret) {
        return forbidden();
    }
    let listening = (bridge.app.changes(), bridge.app.changes_closed());
    let notices = futures::stream::unfold(listening, |(mut rx, mut closed)| async move {
        use tokio::sync::broadcast::error::RecvError;
        let changed = tokio::select! {
            received = rx.recv() => match received {
                Ok(changed) => changed,
                Err(RecvError::Lagged(_)) => crate::live::Changed::everything(),
                Err(RecvError::Closed) => return None,
            },
            // The app is stopping: end the stream so a graceful shutdown is not held open.
            _ = closed.wait_for(|closed| *closed) => return None,
        };
        let event = Event::default()
            .event("changed")
            .json_data(changed)
            .unwrap_or_else(|_| Event::default().event("changed").data("{}"));
        Some((Ok::<Event, std::convert::Infallible>(event), (rx, closed)))
    });
    Sse::new(notices)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn call(
    State(bridge): State<Bridge>,
    Path((secret, command)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    if !secret_ok(&bridge, &secret) {
        return forbidden();
    }
    let body = body.map(|Json(v)| v).unwrap_or(Value::Null);
    match dispatch(&bridge.app, &command, body).await {
        Ok(value) => Json(value).into_response(),
        Err(e) => {
            let status = match e.code.as_str() {
                "invalid" | "invalid_change" | "bad_request" => StatusCode::BAD_REQUEST,
                "unauthenticated" => StatusCode::UNAUTHORIZED,
                "forbidden" | "not_owner" => StatusCode::FORBIDDEN,
                "not_found" => StatusCode::NOT_FOUND,
                "unreachable" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::CONFLICT,
            };
            error(status, e)
        }
    }
}
