//! The invoices page and one invoice's panel: finance's invoices with their job, customer,
//! state, total and sync state; making one from a job, editing it while it is a draft, sending
//! it (its totals lock), marking it paid, voiding it with a reason; a totals conflict line by
//! line; the invoices as CSV.
//!
//! Every amount is the core's (`fieldsync_core::invoice`): the form sends what was typed, the
//! lines and tax are read here as exact decimals, the totals computed by the one rule the
//! server's judge checks, and the group's values checked by the field rules
//! (`fields::check_group`) before anything is queued, with the server's own sentence. A status
//! change or a void goes through the outbox on the version the page showed, like a job's, so a
//! collision with another finance desk goes to review. It leans on [`crate::report`] for
//! writing a CSV file (the sync review's save path) and on [`crate::job`]'s arguments' shapes
//! only by analogy: nothing of the job page is called.

use fieldsync_client::client::RecordView;
use fieldsync_client::NewChange;
use fieldsync_core::fields::{check_group, FieldProblem};
use fieldsync_core::invoice::{self, Decimal, Tax, Totals};
use fieldsync_core::report::spreadsheet_safe;
use fieldsync_core::wire::ReviewItem;
use fieldsync_core::{Group, Op, RecordId, RecordType, ReviewKind, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use ts_rs::TS;

use crate::edit::may_write;
use crate::ids::{parse_action_id, parse_id};
use crate::report::SavedFile;
use crate::views::{level_of, shown_state, text, SaveResult};
use crate::{App, AppError};

/// The currencies the invoice form offers (all kept to the cent: see `core::invoice`).
pub const CURRENCIES: [&str; 3] = ["GBP", "EUR", "USD"];

/// An invoice as finance sees it in the list.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceCard {
    pub id: String,
    pub number: Option<String>,
    pub job_id: Option<String>,
    pub job_number: Option<String>,
    /// The job's customer, by name.
    pub customer: Option<String>,
    pub state: State,
    pub currency: String,
    pub subtotal: Option<f64>,
    pub tax: Option<f64>,
    pub total: Option<f64>,
    /// Totals have an open conflict waiting for finance.
    pub under_review: bool,
    pub review_id: Option<String>,
    pub sync_label: String,
    /// `synced`, `pending`, `failed`, `held` or `rejected`.
    pub sync_level: String,
    /// Sent, paid or void: its totals can no longer change.
    pub totals_locked: bool,
}

/// One line as a screen shows it, its amount computed by the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LineView {
    pub description: String,
    pub quantity: f64,
    pub unit_price: f64,
    /// Quantity times unit price, to the cent.
    pub amount: f64,
}

/// An invoice's totals as a screen shows them, from its stored values (or a problem saying why
/// they cannot be read).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TotalsView {
    pub lines: Vec<LineView>,
    pub subtotal: Option<f64>,
    pub tax: Option<f64>,
    pub total: Option<f64>,
    pub currency: String,
    /// The tax as a rate of the subtotal (percent), when one gives it exactly.
    pub tax_rate: Option<f64>,
    /// Why the lines cannot be read (an older or broken value), if they cannot.
    pub problem: Option<String>,
}

/// One line of the invoice form, as typed.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LineInput {
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
}

/// How the form states the tax: a rate of the subtotal (percent; UK VAT is 20) or an amount.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum TaxInput {
    Rate { percent: String },
    Amount { amount: String },
}

/// The invoice form: its lines, its tax and its currency.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceForm {
    pub lines: Vec<LineInput>,
    pub tax: TaxInput,
    pub currency: String,
}

/// The form's totals as the core computes them, or each problem with its sentence. `values`
/// is the totals group the form would save (for a merge from the line table).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TotalsPreview {
    pub lines: Vec<LineView>,
    pub subtotal: Option<f64>,
    pub tax: Option<f64>,
    pub total: Option<f64>,
    pub currency: String,
    /// Field (`lines`, `tax`, `currency`, or `line-N-quantity` / `line-N-unit_price` for one
    /// line's box) -> sentence. Empty when the form may be saved.
    pub problems: Vec<FieldProblem>,
    #[ts(type = "Record<string, unknown> | null")]
    pub values: Option<Value>,
}

/// A new invoice from a job.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewInvoiceArgs {
    pub job_id: String,
    pub form: InvoiceForm,
    /// Made when the form opened: the same form saved twice is one invoice.
    pub action_id: Option<String>,
}

/// An edit of a draft's lines, tax and currency.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SaveInvoiceArgs {
    pub invoice_id: String,
    pub form: InvoiceForm,
    /// The totals group's version the form opened on: another desk's edit meanwhile makes
    /// this a conflict for review, not a silent overwrite.
    #[ts(type = "number | null")]
    pub base_version: Option<i64>,
    pub action_id: Option<String>,
}

/// Sending an invoice (draft -> sent) or marking it paid (sent -> paid).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceStatusArgs {
    pub invoice_id: String,
    pub state: State,
    /// The status group's version the page showed.
    #[ts(type = "number | null")]
    pub base_version: Option<i64>,
}

/// Voiding an invoice (never deleting it), with why.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct VoidInvoiceArgs {
    pub invoice_id: String,
    pub reason: String,
    #[ts(type = "number | null")]
    pub base_version: Option<i64>,
    pub action_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceArgs {
    pub invoice_id: String,
}

/// A saved invoice: its id (a new one's too) and its sync state.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceSaved {
    pub invoice_id: String,
    pub change_id: String,
    pub state_label: String,
}

/// A job finance may invoice, with the form it suggests: a labour line with the job's hours and
/// a line per part, each waiting for its price.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceJob {
    pub id: String,
    pub number: Option<String>,
    pub customer: String,
    pub site: String,
    pub summary: String,
    pub state: State,
    /// The invoices this job already has (not void), by number: the picker says so.
    pub invoiced: Vec<String>,
    pub suggested: InvoiceForm,
}

/// One invoice's panel.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceDetail {
    pub card: InvoiceCard,
    pub totals: TotalsView,
    /// The form to edit the draft with, filled from it (the tax as a rate when one gives it).
    pub form: InvoiceForm,
    #[ts(type = "number")]
    pub totals_version: i64,
    #[ts(type = "number")]
    pub status_version: i64,
    /// This person may change the lines, tax and currency now.
    pub editable: bool,
    /// Why the totals cannot be edited, in a sentence (locked, under review, not finance's).
    pub locked_reason: Option<String>,
    pub can_send: bool,
    pub can_mark_paid: bool,
    pub can_void: bool,
    /// The states "Send" and "Mark paid" move to, so the page never spells a state name.
    pub send_to: State,
    pub paid_to: State,
    /// It went out to the customer (voiding it then needs a credit note in the books).
    pub was_sent: bool,
    /// Every invoice state in lifecycle order, for the list's filter.
    pub states: Vec<State>,
    /// The reason it was voided, when it is void.
    pub void_reason: Option<String>,
    pub job_summary: Option<String>,
    pub currencies: Vec<String>,
}

/// A totals conflict's versions as the card showed them, to compare line by line.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CompareTotalsArgs {
    /// The totals as they stand (the card's current side).
    #[ts(type = "Record<string, unknown>")]
    pub current: Value,
    /// Each held version's values, in the card's order (each laid over current: a version that
    /// names only the tax keeps the current lines).
    #[ts(type = "Array<Record<string, unknown>>")]
    pub incoming: Vec<Value>,
}

/// One row of the line table: line N of current and of the held version.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LineRow {
    pub position: u32,
    pub current: Option<LineView>,
    pub incoming: Option<LineView>,
    /// What differs: `description`, `quantity`, `unit_price`, `amount`, or `added` (only in
    /// the held version) / `removed` (only in current). Empty when the line is the same.
    pub differs: Vec<String>,
}

/// One held version against current, line by line.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct VersionLines {
    pub totals: TotalsView,
    pub rows: Vec<LineRow>,
    /// Which of `subtotal`, `tax`, `total`, `currency` differ from current.
    pub differing: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TotalsComparison {
    pub current: TotalsView,
    pub versions: Vec<VersionLines>,
}

/// Which invoices go in the CSV.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceExportArgs {
    /// Only invoices in this state; all when left out.
    pub state: Option<State>,
}

/// Where the CSV's save dialog opens, and how many invoices it holds.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceExport {
    pub filename: String,
    /// The file name in the exports folder (the person's Downloads in the desktop).
    pub export_path: Option<String>,
    pub invoices: u32,
}

/// Writing the invoices' CSV: at the path the save dialog gave, or in the exports folder.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SaveInvoicesCsvArgs {
    pub state: Option<State>,
    pub path: Option<String>,
}

/// The CSV's columns, in order: one row per invoice line (an invoice without lines has one row
/// with the line's columns empty), the invoice's own columns on every row, as accounting
/// packages import them.
pub const CSV_COLUMNS: [&str; 14] = [
    "invoice_number",
    "state",
    "job_number",
    "customer",
    "currency",
    "line",
    "description",
    "quantity",
    "unit_price",
    "line_amount",
    "subtotal",
    "tax",
    "total",
    "invoice_id",
];

fn f(d: Decimal) -> f64 {
    invoice::to_f64(d)
}

fn line_view(l: &invoice::Line) -> LineView {
    LineView {
        description: l.description.clone(),
        quantity: f(l.quantity),
        unit_price: f(l.unit_price),
        amount: f(l.amount),
    }
}

/// A totals group's values as a screen shows them: the lines read by the core, the stored
/// subtotal, tax and total to the cent.
pub fn totals_view(values: &Value) -> TotalsView {
    let money = |key: &str| {
        values
            .get(key)
            .and_then(invoice::decimal)
            .map(invoice::to_cents)
    };
    let stored = values
        .get("lines")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (lines, problem) = match invoice::read_lines(&stored) {
        Ok(lines) => (lines.iter().map(line_view).collect(), None),
        Err(message) => (Vec::new(), Some(message)),
    };
    let (subtotal, tax) = (money("subtotal"), money("tax"));
    TotalsView {
        lines,
        subtotal: subtotal.map(f),
        tax: tax.map(f),
        total: money("total").map(f),
        currency: text(values, "currency").unwrap_or_default(),
        tax_rate: subtotal
            .zip(tax)
            .and_then(|(s, t)| invoice::rate_of(s, t))
            .map(f),
        problem,
    }
}

/// The form's lines and tax read and totalled by the core, with a sentence per problem.
fn compute_form(form: &InvoiceForm) -> Result<(Totals, String), Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut problem = |field: String, message: String| {
        problems.push(FieldProblem { field, message });
    };
    let mut lines = Vec::new();
    // Rows left wholly blank are the form's spare rows, not lines.
    let rows = form.lines.iter().filter(|l| {
        !(l.description.trim().is_empty()
            && l.quantity.trim().is_empty()
            && l.unit_price.trim().is_empty())
    });
    for (i, row) in rows.enumerate() {
        let n = i + 1;
        if row.description.trim().is_empty() {
            problem(
                format!("line-{n}-description"),
                format!("Line {n} needs a description: the customer reads it."),
            );
            continue;
        }
        let quantity = invoice::parse_decimal(&row.quantity);
        let unit_price = invoice::parse_decimal(&row.unit_price);
        match invoice::line(n, &row.description, quantity, unit_price) {
            Ok(line) => lines.push(line),
            Err(message) => {
                let field = if quantity.is_some_and(|q| q > Decimal::ZERO) {
                    "unit_price"
                } else {
                    "quantity"
                };
                problem(format!("line-{n}-{field}"), message);
            }
        }
    }
    if form.lines.iter().all(|l| l.description.trim().is_empty()) {
        problem(
            "lines".into(),
            "An invoice needs at least one line: what was done or supplied, how many, at what price.".into(),
        );
    }
    let tax = match &form.tax {
        TaxInput::Rate { percent } => match invoice::parse_decimal(percent) {
            Some(rate) => Some(Tax::Rate(rate)),
            None if percent.trim().is_empty() => Some(Tax::Rate(Decimal::ZERO)),
            None => {
                problem(
                    "tax".into(),
                    format!("The tax rate must be a number of percent, not “{percent}”."),
                );
                None
            }
        },
        TaxInput::Amount { amount } => match invoice::parse_decimal(amount) {
            Some(amount) => Some(Tax::Amount(amount)),
            None if amount.trim().is_empty() => Some(Tax::Amount(Decimal::ZERO)),
            None => {
                problem(
                    "tax".into(),
                    format!("The tax must be an amount, not “{amount}”."),
                );
                None
            }
        },
    };
    let currency = form.currency.trim().to_uppercase();
    if !invoice::is_currency_code(&currency) {
        problem(
            "currency".into(),
            format!("Choose the invoice's currency ({}).", CURRENCIES.join(", ")),
        );
    }
    let totals = match tax {
        Some(tax) if problems.is_empty() => match invoice::compute(lines, tax) {
            Ok(totals) => Some(totals),
            Err(message) => {
                problems.push(FieldProblem {
                    field: "tax".into(),
                    message,
                });
                None
            }
        },
        _ => None,
    };
    match totals {
        Some(totals) if problems.is_empty() => Ok((totals, currency)),
        _ => Err(problems),
    }
}

/// The edit form for stored totals: the lines as typed text, the tax as a rate when one gives
/// it exactly (else its amount).
fn form_of(values: &Value) -> InvoiceForm {
    let view = totals_view(values);
    let text = |n: f64| invoice::parse_decimal(&n.to_string()).map(|d| d.normalize().to_string());
    let lines = view
        .lines
        .iter()
        .map(|l| LineInput {
            description: l.description.clone(),
            quantity: text(l.quantity).unwrap_or_default(),
            unit_price: values_price(l.unit_price),
        })
        .collect();
    let tax = match (view.tax_rate, view.tax) {
        (Some(rate), _) => TaxInput::Rate {
            percent: text(rate).unwrap_or_default(),
        },
        (None, Some(tax)) => TaxInput::Amount {
            amount: values_price(tax),
        },
        (None, None) => TaxInput::Rate {
            percent: "20".into(),
        },
    };
    InvoiceForm {
        lines,
        tax,
        currency: if view.currency.is_empty() {
            CURRENCIES[0].into()
        } else {
            view.currency
        },
    }
}

/// A price as finance types it: at least two decimals ("180.00", "0.125").
fn values_price(n: f64) -> String {
    match invoice::parse_decimal(&n.to_string()) {
        Some(d) if d.normalize().scale() > 2 => d.normalize().to_string(),
        Some(d) => invoice::money_text(d),
        None => String::new(),
    }
}

/// Per line position, what differs between current and a held version.
fn line_rows(current: &[LineView], incoming: &[LineView]) -> Vec<LineRow> {
    let n = current.len().max(incoming.len());
    (0..n)
        .map(|i| {
            let (c, h) = (current.get(i).cloned(), incoming.get(i).cloned());
            let differs = match (&c, &h) {
                (Some(c), Some(h)) => {
                    let mut d = Vec::new();
                    if c.description != h.description {
                        d.push("description".to_string());
                    }
                    if c.quantity != h.quantity {
                        d.push("quantity".into());
                    }
                    if c.unit_price != h.unit_price {
                        d.push("unit_price".into());
                    }
                    if c.amount != h.amount {
                        d.push("amount".into());
                    }
                    d
                }
                (None, Some(_)) => vec!["added".into()],
                (Some(_), None) => vec!["removed".into()],
                (None, None) => Vec::new(),
            };
            LineRow {
                position: u32::try_from(i + 1).unwrap_or(u32::MAX),
                current: c,
                incoming: h,
                differs,
            }
        })
        .collect()
}

/// A totals conflict's versions line by line: every held version laid over current, each line
/// compared by its position.
pub fn compare_totals(current: &Value, incoming: &[Value]) -> TotalsComparison {
    let now = totals_view(current);
    let versions = incoming
        .iter()
        .map(|values| {
            let laid = fieldsync_core::model::merge_values(current, values);
            let totals = totals_view(&laid);
            let rows = line_rows(&now.lines, &totals.lines);
            let mut differing = Vec::new();
            for (name, a, b) in [
                ("subtotal", now.subtotal, totals.subtotal),
                ("tax", now.tax, totals.tax),
                ("total", now.total, totals.total),
            ] {
                if a != b {
                    differing.push(name.to_string());
                }
            }
            if now.currency != totals.currency {
                differing.push("currency".into());
            }
            VersionLines {
                totals,
                rows,
                differing,
            }
        })
        .collect();
    TotalsComparison {
        current: now,
        versions,
    }
}

/// The open totals conflicts, by invoice: one review id each (the newest).
fn totals_reviews(items: &[ReviewItem]) -> HashMap<RecordId, String> {
    let mut out = HashMap::new();
    let mut items: Vec<&ReviewItem> = items
        .iter()
        .filter(|r| {
            r.state == "open"
                && r.record_type == RecordType::Invoice
                && r.group == Some(Group::Totals)
                && matches!(r.kind, ReviewKind::Conflict | ReviewKind::OwnershipMoved)
        })
        .collect();
    items.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    for r in items {
        out.entry(r.record_id)
            .or_insert_with(|| r.review_id.to_string());
    }
    out
}

fn label_of(view: &RecordView) -> String {
    view.record
        .number
        .clone()
        .unwrap_or_else(|| "This invoice".into())
}

/// The invoice's CSV file name: "fieldsync-invoices-2026-03-10.csv" (the state's in it when
/// only one state's invoices are in the file).
fn csv_filename(state: Option<State>, today: chrono::NaiveDate) -> String {
    match state {
        Some(state) => format!(
            "fieldsync-invoices-{}-{}.csv",
            state.as_str(),
            today.format("%Y-%m-%d")
        ),
        None => format!("fieldsync-invoices-{}.csv", today.format("%Y-%m-%d")),
    }
}

/// The invoices as CSV (RFC 4180, a header row, amounts as plain decimals to the cent). Text
/// people typed (descriptions, customers' names, numbers) is made safe for a spreadsheet.
pub fn csv(invoices: &[(InvoiceCard, TotalsView)]) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_COLUMNS)?;
    let text = |s: Option<&str>| spreadsheet_safe(s.unwrap_or_default()).into_owned();
    let money = |n: Option<f64>| {
        n.and_then(|n| invoice::parse_decimal(&n.to_string()))
            .map(invoice::money_text)
            .unwrap_or_default()
    };
    let plain = |n: f64| {
        invoice::parse_decimal(&n.to_string())
            .map(|d| d.normalize().to_string())
            .unwrap_or_default()
    };
    for (card, totals) in invoices {
        let head = [
            text(card.number.as_deref()),
            card.state.as_str().to_string(),
            text(card.job_number.as_deref()),
            text(card.customer.as_deref()),
            text(Some(&card.currency)),
        ];
        let tail = [
            money(card.subtotal),
            money(card.tax),
            money(card.total),
            card.id.clone(),
        ];
        let lines: Vec<Option<&LineView>> = if totals.lines.is_empty() {
            vec![None]
        } else {
            totals.lines.iter().map(Some).collect()
        };
        for (i, line) in lines.into_iter().enumerate() {
            let middle = match line {
                Some(l) => [
                    (i + 1).to_string(),
                    text(Some(&l.description)),
                    plain(l.quantity),
                    money(Some(l.unit_price)),
                    money(Some(l.amount)),
                ],
                None => Default::default(),
            };
            out.write_record(head.iter().chain(middle.iter()).chain(tail.iter()))?;
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every field went in as a String, so the bytes are UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

impl App {
    /// The person signed in, who must be one of finance's writers for what follows.
    fn finance(&self) -> Result<fieldsync_core::wire::User, AppError> {
        let user = self
            .active()?
            .user()
            .ok_or_else(|| AppError::new("unauthenticated", "Sign in first."))?;
        Ok(user)
    }

    async fn invoice_view(&self, id: &str) -> Result<RecordView, AppError> {
        let id = parse_id(id)?;
        self.active()?
            .record(id)
            .await?
            .filter(|v| v.record.record_type == RecordType::Invoice)
            .ok_or_else(|| AppError::new("not_found", "this invoice is not on this device"))
    }

    /// The open review items on this device's mind: the server's, or the last pulled.
    async fn open_reviews(&self) -> Vec<ReviewItem> {
        let Ok(client) = self.active() else {
            return Vec::new();
        };
        match client.inbox(false).await {
            Ok(items) => items,
            Err(_) => client.review_items().await.unwrap_or_default(),
        }
    }

    /// Jobs and customers by id, read once for a page of invoices.
    async fn jobs_and_customers(
        &self,
    ) -> Result<(HashMap<RecordId, RecordView>, HashMap<String, String>), AppError> {
        let client = self.active()?;
        let jobs = client
            .records(RecordType::Job)
            .await?
            .into_iter()
            .map(|v| (v.record.record_id, v))
            .collect();
        let customers = client
            .records(RecordType::Customer)
            .await?
            .into_iter()
            .filter_map(|v| {
                let name = v
                    .values
                    .get(&Group::Profile)
                    .and_then(|p| text(p, "name"))?;
                Some((v.record.record_id.to_string(), name))
            })
            .collect();
        Ok((jobs, customers))
    }

    fn invoice_card(
        &self,
        view: &RecordView,
        jobs: &HashMap<RecordId, RecordView>,
        customers: &HashMap<String, String>,
        reviews: &HashMap<RecordId, String>,
    ) -> InvoiceCard {
        let totals = view
            .values
            .get(&Group::Totals)
            .cloned()
            .unwrap_or(Value::Null);
        let shown = totals_view(&totals);
        let job_id = text(&totals, "job_id").and_then(|j| j.parse::<RecordId>().ok());
        let job = job_id.and_then(|j| jobs.get(&j));
        let customer = job
            .and_then(|j| j.values.get(&Group::Schedule))
            .and_then(|s| text(s, "customer_id"))
            .and_then(|c| customers.get(&c).cloned());
        let state = shown_state(view);
        let review = reviews.get(&view.record.record_id).cloned();
        InvoiceCard {
            id: view.record.record_id.to_string(),
            number: view.record.number.clone(),
            job_id: job_id.map(|j| j.to_string()),
            job_number: job.and_then(|j| j.record.number.clone()),
            customer,
            state,
            currency: shown.currency,
            subtotal: shown.subtotal,
            tax: shown.tax,
            total: shown.total,
            under_review: review.is_some(),
            review_id: review,
            sync_label: view.state.label(self.now()),
            sync_level: level_of(&view.state).into(),
            totals_locked: state != State::Draft,
        }
    }

    /// Every invoice with its job, customer, state, total and sync state, newest first, and
    /// which wait for finance's review of their totals.
    pub async fn invoices(&self) -> Result<Vec<InvoiceCard>, AppError> {
        Ok(self
            .invoice_rows(None)
            .await?
            .into_iter()
            .map(|(card, _)| card)
            .collect())
    }

    async fn invoice_rows(
        &self,
        state: Option<State>,
    ) -> Result<Vec<(InvoiceCard, TotalsView)>, AppError> {
        let reviews = totals_reviews(&self.open_reviews().await);
        let (jobs, customers) = self.jobs_and_customers().await?;
        let mut views = self.active()?.records(RecordType::Invoice).await?;
        views.sort_by(|a, b| {
            b.record
                .created_at
                .cmp(&a.record.created_at)
                .then(b.record.number.cmp(&a.record.number))
        });
        Ok(views
            .iter()
            .map(|v| {
                let totals = v.values.get(&Group::Totals).cloned().unwrap_or(Value::Null);
                (
                    self.invoice_card(v, &jobs, &customers, &reviews),
                    totals_view(&totals),
                )
            })
            .filter(|(card, _)| state.is_none_or(|s| card.state == s))
            .collect())
    }

    /// One invoice's panel: its lines and totals, and what this person may do to it now.
    pub async fn invoice(&self, args: InvoiceArgs) -> Result<InvoiceDetail, AppError> {
        let view = self.invoice_view(&args.invoice_id).await?;
        let reviews = totals_reviews(&self.open_reviews().await);
        let (jobs, customers) = self.jobs_and_customers().await?;
        let card = self.invoice_card(&view, &jobs, &customers, &reviews);
        let values = view
            .values
            .get(&Group::Totals)
            .cloned()
            .unwrap_or(json!({}));
        let totals = totals_view(&values);
        let role = self.role();
        let policy = self.policy().await;
        let user = self.active()?.user();
        let writes = |group: Group| {
            user.as_ref().is_some_and(|u| {
                may_write(
                    &policy,
                    RecordType::Invoice,
                    group,
                    &view.record.owner,
                    u.role,
                    &u.name,
                    u.team.as_deref(),
                )
            })
        };
        let state = card.state;
        let number = label_of(&view);
        let locked_reason = if state != State::Draft {
            Some(format!(
                "{number} is {}: its lines and totals are locked.{}",
                state.words(),
                // What can still be done, and nothing the page does not offer: a paid invoice
                // is not voided (the money came in; a correction is a credit in the books).
                match state {
                    State::Sent => " To correct it, void it and raise a new invoice.",
                    State::Paid =>
                        " It is settled; a correction is a new invoice or a credit note.",
                    _ => "",
                }
            ))
        } else if card.under_review {
            Some(format!(
                "The totals of {number} are under review: resolve them in the review inbox first."
            ))
        } else if !writes(Group::Totals) {
            Some(format!(
                "Only finance changes an invoice; a {} reads it.",
                role.map(|r| r.as_str()).unwrap_or("person signed out")
            ))
        } else {
            None
        };
        let status_writer = writes(Group::Status);
        let voider = role.is_some_and(|r| {
            policy.type_rule(RecordType::Invoice).voiders.contains(&r) || status_writer
        });
        let status = view.values.get(&Group::Status);
        let job_summary = card
            .job_id
            .as_deref()
            .and_then(|j| j.parse::<RecordId>().ok())
            .and_then(|j| jobs.get(&j))
            .and_then(|j| j.values.get(&Group::Description))
            .and_then(|d| text(d, "summary"));
        Ok(InvoiceDetail {
            form: form_of(&values),
            totals_version: view.bases.get(&Group::Totals).copied().unwrap_or(0),
            status_version: view.bases.get(&Group::Status).copied().unwrap_or(0),
            editable: locked_reason.is_none(),
            locked_reason,
            can_send: status_writer
                && state == State::Draft
                && !card.under_review
                && !totals.lines.is_empty(),
            can_mark_paid: status_writer && state == State::Sent,
            can_void: voider && matches!(state, State::Draft | State::Sent),
            send_to: State::Sent,
            paid_to: State::Paid,
            was_sent: state == State::Sent,
            states: fieldsync_core::lifecycle::INVOICE_STATES.to_vec(),
            void_reason: (state == State::Void)
                .then(|| status.and_then(|s| text(s, "reason")))
                .flatten(),
            job_summary,
            currencies: CURRENCIES.iter().map(|c| c.to_string()).collect(),
            totals,
            card,
        })
    }

    /// The form's totals as the core computes them, with each problem's sentence: what the
    /// invoice form shows as the person types, by the rule the save and the server use.
    pub fn invoice_totals(&self, form: InvoiceForm) -> TotalsPreview {
        match compute_form(&form) {
            Ok((totals, currency)) => {
                let values = invoice::values(&totals, &currency);
                let problems = check_group(RecordType::Invoice, Group::Totals, &json!({}), &values);
                TotalsPreview {
                    lines: totals.lines.iter().map(line_view).collect(),
                    subtotal: Some(f(totals.subtotal)),
                    tax: Some(f(totals.tax)),
                    total: Some(f(totals.total)),
                    currency,
                    values: problems.is_empty().then_some(values),
                    problems,
                }
            }
            Err(problems) => TotalsPreview {
                lines: Vec::new(),
                subtotal: None,
                tax: None,
                total: None,
                currency: form.currency.trim().to_uppercase(),
                problems,
                values: None,
            },
        }
    }

    /// The form as the totals group's values, checked by the core's field rules on `current`:
    /// refused with the first sentence, the code the server uses.
    fn checked_values(&self, form: &InvoiceForm, current: &Value) -> Result<Value, AppError> {
        let (totals, currency) = compute_form(form).map_err(|problems| {
            AppError::new(
                "invalid_change",
                problems
                    .first()
                    .map(|p| p.message.clone())
                    .unwrap_or_else(|| "These totals cannot be saved.".into()),
            )
        })?;
        let values = invoice::values(&totals, &currency);
        if let Some(p) = check_group(RecordType::Invoice, Group::Totals, current, &values)
            .into_iter()
            .next()
        {
            return Err(AppError::new("invalid_change", p.message));
        }
        Ok(values)
    }

    /// The jobs finance may invoice (every job not voided), finished ones first, each with the
    /// lines it suggests.
    pub async fn invoice_jobs(&self) -> Result<Vec<InvoiceJob>, AppError> {
        let client = self.active()?;
        let (jobs, customers) = self.jobs_and_customers().await?;
        let invoices = client.records(RecordType::Invoice).await?;
        let parts = client.records(RecordType::PartLine).await?;
        let mut out: Vec<InvoiceJob> = jobs
            .values()
            .filter(|j| !shown_state(j).is_voided())
            .map(|job| {
                let schedule = job
                    .values
                    .get(&Group::Schedule)
                    .cloned()
                    .unwrap_or(json!({}));
                let id = job.record.record_id.to_string();
                let invoiced = invoices
                    .iter()
                    .filter(|i| shown_state(i) != State::Void)
                    .filter(|i| {
                        i.values
                            .get(&Group::Totals)
                            .and_then(|t| text(t, "job_id"))
                            .as_deref()
                            == Some(id.as_str())
                    })
                    .map(|i| {
                        i.record
                            .number
                            .clone()
                            .unwrap_or_else(|| "a new invoice".into())
                    })
                    .collect();
                let mut lines = Vec::new();
                let hours = job
                    .values
                    .get(&Group::Work)
                    .and_then(|w| w.get("labour_hours"))
                    .and_then(invoice::decimal)
                    .filter(|h| *h > Decimal::ZERO);
                lines.push(LineInput {
                    description: "Labour".into(),
                    quantity: hours
                        .map(|h| h.normalize().to_string())
                        .unwrap_or_else(|| "1".into()),
                    unit_price: String::new(),
                });
                for part in parts
                    .iter()
                    .filter(|p| p.record.job_id == Some(job.record.record_id))
                    .filter(|p| !shown_state(p).is_voided())
                {
                    let line = part.values.get(&Group::Line).cloned().unwrap_or(json!({}));
                    lines.push(LineInput {
                        description: format!(
                            "Part {}",
                            text(&line, "part_number").unwrap_or_default()
                        ),
                        quantity: line
                            .get("quantity")
                            .and_then(invoice::decimal)
                            .map(|q| q.normalize().to_string())
                            .unwrap_or_else(|| "1".into()),
                        unit_price: String::new(),
                    });
                }
                InvoiceJob {
                    number: job.record.number.clone(),
                    customer: text(&schedule, "customer_id")
                        .and_then(|c| customers.get(&c).cloned())
                        .unwrap_or_else(|| "a customer not on this device".into()),
                    site: text(&schedule, "site").unwrap_or_default(),
                    summary: job
                        .values
                        .get(&Group::Description)
                        .and_then(|d| text(d, "summary"))
                        .unwrap_or_default(),
                    state: shown_state(job),
                    invoiced,
                    suggested: InvoiceForm {
                        lines,
                        tax: TaxInput::Rate {
                            percent: "20".into(),
                        },
                        currency: CURRENCIES[0].into(),
                    },
                    id,
                }
            })
            .collect();
        // Finished work is what is invoiced: signed off and closed first, then by number.
        let rank = |s: State| match s {
            State::SignedOff | State::Closed => 0,
            _ => 1,
        };
        out.sort_by(|a, b| {
            rank(a.state)
                .cmp(&rank(b.state))
                .then(b.number.cmp(&a.number))
        });
        Ok(out)
    }

    /// A new invoice from a job, saved to the outbox: its totals computed by the core from the
    /// form's lines and tax, held to the field rules before anything is queued.
    pub async fn create_invoice(&self, args: NewInvoiceArgs) -> Result<InvoiceSaved, AppError> {
        let user = self.finance()?;
        let policy = self.policy().await;
        if !policy
            .type_rule(RecordType::Invoice)
            .creators
            .contains(&user.role)
        {
            return Err(AppError::new(
                "forbidden",
                format!(
                    "A {} may not make an invoice: finance does.",
                    user.role.as_str()
                ),
            ));
        }
        let job_id = parse_id(&args.job_id)?;
        let job = self
            .active()?
            .record(job_id)
            .await?
            .filter(|j| j.record.record_type == RecordType::Job)
            .ok_or_else(|| AppError::new("not_found", "this job is not on this device"))?;
        if shown_state(&job).is_voided() {
            return Err(AppError::new(
                "invalid",
                format!(
                    "{} is voided: there is nothing to invoice.",
                    job.record.number.as_deref().unwrap_or("This job")
                ),
            ));
        }
        let mut values = self.checked_values(&args.form, &json!({}))?;
        values["job_id"] = json!(job_id.to_string());
        let change_id = parse_action_id(args.action_id.as_deref())?;
        let record_id = self.active()?.new_record_id();
        let (change_id, state) = self
            .active()?
            .save(NewChange {
                change_id,
                record_type: RecordType::Invoice,
                record_id,
                group: None,
                op: Op::Create,
                values: json!({ "totals": values }),
                file_sha256: None,
            })
            .await?;
        Ok(InvoiceSaved {
            invoice_id: record_id.to_string(),
            change_id: change_id.to_string(),
            state_label: state.label(self.now()),
        })
    }

    /// An edit of a draft's lines, tax and currency, on the version its form opened on. A sent,
    /// paid or void invoice is refused here (the server refuses it too: its totals are locked).
    pub async fn save_invoice(&self, args: SaveInvoiceArgs) -> Result<InvoiceSaved, AppError> {
        let user = self.finance()?;
        let view = self.invoice_view(&args.invoice_id).await?;
        let state = shown_state(&view);
        if state != State::Draft {
            let then = match state {
                State::Sent => ": void it and raise a new invoice to change them",
                State::Paid => ": it is settled; raise a new invoice or a credit note instead",
                _ => "",
            };
            return Err(AppError::new(
                "record_locked",
                format!(
                    "{} is {}, so its lines and totals are locked{then}.",
                    label_of(&view),
                    state.words()
                ),
            ));
        }
        let policy = self.policy().await;
        if !may_write(
            &policy,
            RecordType::Invoice,
            Group::Totals,
            &view.record.owner,
            user.role,
            &user.name,
            user.team.as_deref(),
        ) {
            return Err(AppError::new(
                "forbidden",
                format!(
                    "A {} may not change an invoice: finance does.",
                    user.role.as_str()
                ),
            ));
        }
        let current = view
            .values
            .get(&Group::Totals)
            .cloned()
            .unwrap_or(json!({}));
        let values = self.checked_values(&args.form, &current)?;
        let (change_id, state) = self
            .active()?
            .save_seen(
                NewChange {
                    change_id: parse_action_id(args.action_id.as_deref())?,
                    record_type: RecordType::Invoice,
                    record_id: view.record.record_id,
                    group: Some(Group::Totals),
                    op: Op::Update,
                    values,
                    file_sha256: None,
                },
                args.base_version,
            )
            .await?;
        Ok(InvoiceSaved {
            invoice_id: view.record.record_id.to_string(),
            change_id: change_id.to_string(),
            state_label: state.label(self.now()),
        })
    }

    /// Sends a draft (its totals lock) or marks a sent invoice paid: a status change through
    /// the outbox on the version the page showed.
    pub async fn set_invoice_status(
        &self,
        args: InvoiceStatusArgs,
    ) -> Result<SaveResult, AppError> {
        let user = self.finance()?;
        let view = self.invoice_view(&args.invoice_id).await?;
        let from = shown_state(&view);
        let number = label_of(&view);
        fieldsync_core::lifecycle::status_move(RecordType::Invoice, from, args.state, user.role)
            .map_err(|r| {
                AppError::new(
                    r.code.as_str(),
                    format!(
                        "{number} is {}: it cannot be {} now ({}).",
                        from.words(),
                        args.state.words(),
                        r.message
                    ),
                )
            })?;
        if from == args.state {
            return Err(AppError::new(
                "invalid",
                format!("{number} is {} already.", from.words()),
            ));
        }
        if args.state == State::Sent {
            let totals = view
                .values
                .get(&Group::Totals)
                .cloned()
                .unwrap_or(json!({}));
            let shown = totals_view(&totals);
            if let Some(problem) = shown.problem {
                return Err(AppError::new("invalid_change", problem));
            }
            if shown.lines.is_empty() {
                return Err(AppError::new(
                    "invalid_change",
                    format!("{number} has no lines: add what was done before sending it."),
                ));
            }
            if let Some(p) = check_group(RecordType::Invoice, Group::Totals, &json!({}), &totals)
                .into_iter()
                .next()
            {
                return Err(AppError::new("invalid_change", p.message));
            }
            if totals_reviews(&self.open_reviews().await).contains_key(&view.record.record_id) {
                return Err(AppError::new(
                    "under_review",
                    format!(
                        "The totals of {number} are under review: resolve them before sending it, since sending locks them."
                    ),
                ));
            }
        }
        let (change_id, state) = self
            .active()?
            .save_seen(
                NewChange {
                    change_id: None,
                    record_type: RecordType::Invoice,
                    record_id: view.record.record_id,
                    group: Some(Group::Status),
                    op: Op::Update,
                    values: json!({ "state": args.state }),
                    file_sha256: None,
                },
                args.base_version,
            )
            .await?;
        Ok(SaveResult {
            change_id: change_id.to_string(),
            state_label: state.label(self.now()),
        })
    }

    /// Voids an invoice (never deletes it), with why: `op: void` on its status, on the version
    /// the dialog showed.
    pub async fn void_invoice(&self, args: VoidInvoiceArgs) -> Result<SaveResult, AppError> {
        let user = self.finance()?;
        let view = self.invoice_view(&args.invoice_id).await?;
        let reason = args.reason.trim();
        if reason.is_empty() {
            return Err(AppError::new(
                "invalid",
                "Say why the invoice is voided: the reason stays with it.",
            ));
        }
        let policy = self.policy().await;
        if !policy
            .type_rule(RecordType::Invoice)
            .voiders
            .contains(&user.role)
        {
            return Err(AppError::new(
                "forbidden",
                format!(
                    "A {} may not void an invoice: finance does.",
                    user.role.as_str()
                ),
            ));
        }
        let state = shown_state(&view);
        if matches!(state, State::Paid | State::Void) {
            return Err(AppError::new(
                "record_locked",
                format!(
                    "{} is {}: it can no longer be voided.",
                    label_of(&view),
                    state.words()
                ),
            ));
        }
        let (change_id, state) = self
            .active()?
            .save_seen(
                NewChange {
                    change_id: parse_action_id(args.action_id.as_deref())?,
                    record_type: RecordType::Invoice,
                    record_id: view.record.record_id,
                    group: Some(Group::Status),
                    op: Op::Void,
                    values: json!({ "reason": reason }),
                    file_sha256: None,
                },
                args.base_version,
            )
            .await?;
        Ok(SaveResult {
            change_id: change_id.to_string(),
            state_label: state.label(self.now()),
        })
    }

    /// A totals conflict line by line, from the values its card showed.
    pub fn compare_totals(&self, args: CompareTotalsArgs) -> TotalsComparison {
        compare_totals(&args.current, &args.incoming)
    }

    /// Where the invoices' CSV's save dialog opens, and how many invoices go in it.
    pub async fn invoice_export(&self, args: InvoiceExportArgs) -> Result<InvoiceExport, AppError> {
        let rows = self.invoice_rows(args.state).await?;
        let filename = csv_filename(args.state, self.now().date_naive());
        Ok(InvoiceExport {
            export_path: self
                .exports_dir()
                .map(|d| d.join(&filename).to_string_lossy().into_owned()),
            filename,
            invoices: u32::try_from(rows.len()).unwrap_or(u32::MAX),
        })
    }

    /// Writes the invoices (one state's, or all) as CSV where the person chose, or in the
    /// exports folder, by the same path as the sync review's CSV.
    pub async fn save_invoices_csv(
        &self,
        args: SaveInvoicesCsvArgs,
    ) -> Result<SavedFile, AppError> {
        let rows = self.invoice_rows(args.state).await?;
        let text = csv(&rows)
            .map_err(|e| AppError::new("internal", format!("the CSV could not be written: {e}")))?;
        let filename = csv_filename(args.state, self.now().date_naive());
        let mut saved = self.write_csv(args.path.as_deref(), &filename, &text)?;
        // Rows of the file are lines; the person counts invoices.
        saved.rows = rows.len() as u64;
        Ok(saved)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn form(lines: &[(&str, &str, &str)], tax: TaxInput) -> InvoiceForm {
        InvoiceForm {
            lines: lines
                .iter()
                .map(|(d, q, p)| LineInput {
                    description: d.to_string(),
                    quantity: q.to_string(),
                    unit_price: p.to_string(),
                })
                .collect(),
            tax,
            currency: "gbp".into(),
        }
    }

    #[test]
    fn a_form_is_totalled_by_the_core_and_each_box_gets_its_sentence() {
        let (totals, currency) = compute_form(&form(
            &[
                ("Labour", "1.5", "60"),
                ("Valve", "2", "12.10"),
                ("", "", ""),
            ],
            TaxInput::Rate {
                percent: "20".into(),
            },
        ))
        .unwrap();
        assert_eq!(currency, "GBP");
        assert_eq!(invoice::money_text(totals.total), "137.04");
        let problems = compute_form(&form(
            &[("Labour", "0", "60"), ("Valve", "2", "ten")],
            TaxInput::Amount { amount: "x".into() },
        ))
        .unwrap_err();
        let by: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            by,
            [
                ("line-1-quantity", "Line 1's quantity must be more than 0."),
                ("line-2-unit_price", "Line 2's unit price must be a number."),
                ("tax", "The tax must be an amount, not “x”."),
            ]
        );
    }

    #[test]
    fn a_stored_draft_reopens_as_its_form_with_the_tax_as_a_rate() {
        let f = form_of(
            &json!({"lines": [{"text": "Labour", "amount": 180.0}], "subtotal": 180.0, "tax": 36.0, "total": 216.0, "currency": "GBP"}),
        );
        assert_eq!(f.lines[0].description, "Labour");
        assert_eq!(
            (f.lines[0].quantity.as_str(), f.lines[0].unit_price.as_str()),
            ("1", "180.00")
        );
        assert!(matches!(f.tax, TaxInput::Rate { ref percent } if percent == "20"));
    }
}
