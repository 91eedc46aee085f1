//! The customers page: the list of customers; one customer's story (profile and billing with
//! their policy badges, edited through `edit`; its timeline, where a phone number overwritten
//! under last write wins is still readable; its jobs and its invoices); and creating a customer
//! after the match-before-create check, from a form kept as a draft while it is typed. It leans
//! on [`crate::timeline`] for the timeline and on [`crate::board`] for the shape of a match.
//!
//! The check looks where the job form's does (this device's records, its unsent creates and its
//! open drafts), with a customer's own signs of sameness: the name (ignoring case, punctuation and
//! words like "Ltd"), the phone's digits, the email, the site address with a similar name. It
//! lives here, not in the client's `matching` (which knows jobs), because which customers are
//! "the same" is the office's question: a field device never creates one.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use fieldsync_client::NewChange;
use fieldsync_core::fields::check_group;
use fieldsync_core::model::check_values;
use fieldsync_core::{Group, Op, RecordId, RecordType, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use ts_rs::TS;

use crate::board::{DraftArgs, MatchView};
use crate::edit::typed_values;
use crate::ids::{parse_action_id, parse_id};
use crate::timeline::TimelineEntry;
use crate::views::{level_of, shown_state, text, GroupView};
use crate::{App, AppError};

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerView {
    pub id: String,
    pub number: Option<String>,
    pub name: String,
    pub site_address: Option<String>,
    pub phone: Option<String>,
}

/// One of a customer's jobs, as its page lists them.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerJob {
    pub id: String,
    pub number: Option<String>,
    pub summary: String,
    pub site: String,
    pub state: State,
    /// RFC 3339, UTC; the page shows it in the person's own time.
    pub window_start: Option<String>,
    pub window_end: Option<String>,
}

/// One of a customer's invoices (through its jobs).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerInvoice {
    pub id: String,
    pub number: Option<String>,
    pub job_number: Option<String>,
    pub state: State,
    /// ISO 4217 (GBP), for the page to format the total in.
    pub currency: String,
    pub total: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerDetail {
    pub id: String,
    pub number: Option<String>,
    pub name: String,
    pub groups: Vec<GroupView>,
    pub sync_label: String,
    pub sync_level: String,
    /// When the customer was made (RFC 3339).
    pub created_at: String,
    /// Newest first, in sentences; an overwritten value is read here.
    pub timeline: Vec<TimelineEntry>,
    /// Whether the timeline came from the server (false: as last read, and this device's own).
    pub timeline_from_server: bool,
    /// Newest window first.
    pub jobs: Vec<CustomerJob>,
    pub invoices: Vec<CustomerInvoice>,
}

/// Which customer the customer page shows.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerArgs {
    pub customer_id: String,
}

/// The new customer form: its profile and billing fields as typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewCustomerForm {
    /// Made when the form opened (`new_action_id`): saving twice is one customer; it is also
    /// the form's draft's id. A UUID; anything else is refused.
    pub action_id: Option<String>,
    pub name: String,
    pub nickname: String,
    pub phone: String,
    pub email: String,
    pub site_address: String,
    pub billing_contact: String,
    pub billing_email: String,
    /// The person saw the possible duplicates and creates anyway.
    pub confirm_duplicate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CreateCustomerResult {
    pub created: bool,
    pub customer_id: Option<String>,
    /// The customers this one looks like (offered instead, unless confirmed).
    pub matches: Vec<MatchView>,
    pub state_label: Option<String>,
}

/// A new customer form as it was being typed, kept on this device so it survives a restart.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerDraft {
    pub form: NewCustomerForm,
    /// When it was last saved (RFC 3339); set by the command layer.
    pub saved_at: Option<String>,
}

const PROFILE: [&str; 5] = ["name", "nickname", "phone", "email", "site_address"];
const BILLING: [&str; 2] = ["billing_contact", "billing_email"];

impl NewCustomerForm {
    fn field(&self, name: &str) -> &str {
        match name {
            "name" => &self.name,
            "nickname" => &self.nickname,
            "phone" => &self.phone,
            "email" => &self.email,
            "site_address" => &self.site_address,
            "billing_contact" => &self.billing_contact,
            "billing_email" => &self.billing_email,
            _ => "",
        }
    }

    /// The fields given, as a group's form values (empty ones left out).
    fn group(&self, fields: &[&str]) -> Value {
        Value::Object(
            fields
                .iter()
                .filter(|f| !self.field(f).trim().is_empty())
                .map(|f| (f.to_string(), json!(self.field(f))))
                .collect::<Map<String, Value>>(),
        )
    }

    fn from_values(action_id: String, values: &Value) -> NewCustomerForm {
        let get = |g: &str, k: &str| text(&values[g], k).unwrap_or_default();
        NewCustomerForm {
            action_id: Some(action_id),
            name: get("profile", "name"),
            nickname: get("profile", "nickname"),
            phone: get("profile", "phone"),
            email: get("profile", "email"),
            site_address: get("profile", "site_address"),
            billing_contact: get("billing", "billing_contact"),
            billing_email: get("billing", "billing_email"),
            confirm_duplicate: false,
        }
    }

    fn values(&self) -> Value {
        json!({"profile": self.group(&PROFILE), "billing": self.group(&BILLING)})
    }
}

/// A customer as the match-before-create check compares it.
struct Likeness {
    name: String,
    words: BTreeSet<String>,
    phone: String,
    email: String,
    site: String,
}

/// Words a business name carries that do not tell two customers apart.
const FILLER: [&str; 7] = ["the", "ltd", "limited", "plc", "llc", "inc", "co"];

fn normal(s: &str) -> String {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Likeness {
    fn of(profile: &Value) -> Likeness {
        let field = |k: &str| text(profile, k).unwrap_or_default();
        let words: BTreeSet<String> = normal(&field("name"))
            .split(' ')
            .filter(|w| !w.is_empty() && !FILLER.contains(w))
            .map(str::to_string)
            .collect();
        Likeness {
            name: words.iter().cloned().collect::<Vec<_>>().join(" "),
            words,
            phone: field("phone")
                .chars()
                .filter(char::is_ascii_digit)
                .collect(),
            email: field("email").trim().to_lowercase(),
            site: normal(&field("site_address")),
        }
    }

    /// Why `other` looks like this one, in words ("the same phone"), if it does.
    fn like(&self, other: &Likeness) -> Option<&'static str> {
        let overlap = if self.words.is_empty() || other.words.is_empty() {
            0.0
        } else {
            self.words.intersection(&other.words).count() as f64
                / self.words.union(&other.words).count() as f64
        };
        if !self.name.is_empty() && self.name == other.name {
            Some("the same name")
        } else if same_phone(&self.phone, &other.phone) {
            Some("the same phone")
        } else if !self.email.is_empty() && self.email == other.email {
            Some("the same email")
        } else if !self.site.is_empty() && self.site == other.site && overlap >= 0.3 {
            Some("a similar name at the same address")
        } else if overlap >= 0.6 {
            Some("a similar name")
        } else {
            None
        }
    }
}

/// Two phones' digits are one number: the same, or the same last nine digits (a UK number
/// written +44 20 … or 020 …).
fn same_phone(a: &str, b: &str) -> bool {
    let tail = |s: &str| {
        s.get(s.len().saturating_sub(9)..)
            .unwrap_or_default()
            .to_string()
    };
    a.len() >= 6 && (a == b || (a.len() >= 9 && b.len() >= 9 && tail(a) == tail(b)))
}

fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - then).num_minutes().max(0);
    match minutes {
        0 => "just now".into(),
        1 => "1 minute ago".into(),
        m if m < 120 => format!("{m} minutes ago"),
        m if m < 48 * 60 => format!("{} hours ago", m / 60),
        m => format!("{} days ago", m / (24 * 60)),
    }
}

impl App {
    pub async fn customers(&self) -> Result<Vec<CustomerView>, AppError> {
        Ok(self
            .active()?
            .records(RecordType::Customer)
            .await?
            .into_iter()
            .map(|v| {
                let profile = v
                    .values
                    .get(&Group::Profile)
                    .cloned()
                    .unwrap_or(Value::Null);
                CustomerView {
                    id: v.record.record_id.to_string(),
                    number: v.record.number.clone(),
                    name: text(&profile, "name").unwrap_or_default(),
                    site_address: text(&profile, "site_address"),
                    phone: text(&profile, "phone"),
                }
            })
            .collect())
    }

    /// One customer: profile and billing with their badges, where its sync stands, its
    /// timeline, its jobs and its invoices.
    pub async fn customer(&self, customer_id: String) -> Result<CustomerDetail, AppError> {
        let id = parse_id(&customer_id)?;
        let client = self.active()?;
        let view = client
            .record(id)
            .await?
            .filter(|v| v.record.record_type == RecordType::Customer)
            .ok_or_else(|| AppError::new("not_found", "this customer is not on this device"))?;
        let policy = self.policy().await;
        let name = view
            .values
            .get(&Group::Profile)
            .and_then(|p| text(p, "name"))
            .unwrap_or_default();
        let names = self.names().await;
        let (timeline, from_server) = self.timeline(RecordType::Customer, id, &names).await?;
        let (jobs, invoices) = self.customer_work(&customer_id).await?;
        Ok(CustomerDetail {
            id: customer_id,
            number: view.record.number.clone(),
            name,
            groups: self.group_views(RecordType::Customer, &view, &view.record.state, &policy),
            sync_label: view.state.label(client.now()),
            sync_level: level_of(&view.state).into(),
            created_at: view
                .record
                .created_at
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            timeline,
            timeline_from_server: from_server,
            jobs,
            invoices,
        })
    }

    /// A customer's jobs (newest window first) and the invoices of those jobs.
    async fn customer_work(
        &self,
        customer_id: &str,
    ) -> Result<(Vec<CustomerJob>, Vec<CustomerInvoice>), AppError> {
        let client = self.active()?;
        let mut jobs = Vec::new();
        for job in client.records(RecordType::Job).await? {
            let schedule = job
                .values
                .get(&Group::Schedule)
                .cloned()
                .unwrap_or(Value::Null);
            if text(&schedule, "customer_id").as_deref() != Some(customer_id) {
                continue;
            }
            jobs.push(CustomerJob {
                id: job.record.record_id.to_string(),
                number: job.record.number.clone(),
                summary: job
                    .values
                    .get(&Group::Description)
                    .and_then(|d| text(d, "summary"))
                    .unwrap_or_default(),
                site: text(&schedule, "site").unwrap_or_default(),
                state: shown_state(&job),
                window_start: text(&schedule, "window_start"),
                window_end: text(&schedule, "window_end"),
            });
        }
        let when = |j: &CustomerJob| {
            j.window_start
                .as_deref()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        };
        jobs.sort_by_key(|j| std::cmp::Reverse(when(j)));
        let mut invoices = Vec::new();
        for invoice in client.records(RecordType::Invoice).await? {
            let totals = invoice
                .values
                .get(&Group::Totals)
                .cloned()
                .unwrap_or(Value::Null);
            let Some(job) = text(&totals, "job_id").and_then(|j| jobs.iter().find(|x| x.id == j))
            else {
                continue;
            };
            invoices.push(CustomerInvoice {
                id: invoice.record.record_id.to_string(),
                number: invoice.record.number.clone(),
                job_number: job.number.clone(),
                state: shown_state(&invoice),
                currency: text(&totals, "currency").unwrap_or_else(|| "GBP".into()),
                total: totals.get("total").and_then(Value::as_f64),
            });
        }
        Ok((jobs, invoices))
    }

    /// The customers (and open drafts) the form looks like, with the sentence to show: "This
    /// looks like C-000012 (Northgate Bakery), created 10 minutes ago: the same phone".
    async fn customer_matches(&self, form: &NewCustomerForm) -> Result<Vec<MatchView>, AppError> {
        let client = self.active()?;
        let now = client.now();
        let me = Likeness::of(&form.group(&PROFILE));
        let mut found = Vec::new();
        for (draft_id, values, saved_at) in client.cache().drafts(RecordType::Customer).await? {
            if form.action_id.as_deref() == Some(draft_id.as_str()) {
                continue;
            }
            if let Some(why) = me.like(&Likeness::of(&values["profile"])) {
                found.push(MatchView {
                    source: "Draft".into(),
                    id: draft_id,
                    number: None,
                    message: format!(
                        "This looks like your unsaved customer form from {}: {why}",
                        ago(saved_at, now)
                    ),
                });
            }
        }
        for customer in client.records(RecordType::Customer).await? {
            if matches!(
                customer.record.state,
                State::Voided | State::Archived | State::Void
            ) {
                continue;
            }
            let profile = customer
                .values
                .get(&Group::Profile)
                .cloned()
                .unwrap_or(Value::Null);
            let Some(why) = me.like(&Likeness::of(&profile)) else {
                continue;
            };
            let name = text(&profile, "name").unwrap_or_default();
            let place = text(&profile, "site_address")
                .map(|a| format!(", {a}"))
                .unwrap_or_default();
            let created = ago(customer.record.created_at, now);
            let (source, message) = match &customer.record.number {
                Some(number) if !customer.record.local_only => (
                    "RecentCustomer",
                    format!("This looks like {number} ({name}{place}), created {created}: {why}"),
                ),
                _ => (
                    "PendingCreate",
                    format!(
                        "This looks like the customer {name}{place} saved on this device {created} (not yet synced): {why}"
                    ),
                ),
            };
            found.push(MatchView {
                source: source.into(),
                id: customer.record.record_id.to_string(),
                number: customer.record.number.clone(),
                message,
            });
        }
        Ok(found)
    }

    /// Creates a customer after the match-before-create check: with matches and no
    /// confirmation it offers them instead. The form's values are typed and held to the core's
    /// field rules first (the name is required; a phone and an email must look like one), in
    /// the sentence the server would refuse them with. The form's action id makes a double
    /// save one customer: the second answers the first's id.
    pub async fn create_customer(
        &self,
        form: NewCustomerForm,
    ) -> Result<CreateCustomerResult, AppError> {
        let change_id = parse_action_id(form.action_id.as_deref())?;
        let client = self.active()?;
        if let Some(done) = match change_id {
            Some(c) => client.cache().outbox_row(c).await?,
            None => None,
        } {
            let state = client.change_state(done.change.change_id).await?;
            return Ok(CreateCustomerResult {
                created: true,
                customer_id: Some(done.change.record_id.to_string()),
                matches: Vec::new(),
                state_label: state.map(|s| s.label(client.now())),
            });
        }
        let mut values = Map::new();
        for (group, fields) in [
            (Group::Profile, &PROFILE[..]),
            (Group::Billing, &BILLING[..]),
        ] {
            let typed =
                typed_values(RecordType::Customer, group, &form.group(fields)).map_err(|p| {
                    AppError::new(
                        "invalid_change",
                        p.first().map(|p| p.message.clone()).unwrap_or_default(),
                    )
                })?;
            let typed = Value::Object(typed);
            check_values(RecordType::Customer, group, &typed, group == Group::Profile)
                .map_err(|m| AppError::new("invalid_change", m))?;
            if let Some(problem) = check_group(RecordType::Customer, group, &json!({}), &typed)
                .into_iter()
                .next()
            {
                return Err(AppError::new("invalid_change", problem.message));
            }
            values.insert(group.as_str().into(), typed);
        }
        let matches = self.customer_matches(&form).await?;
        if !matches.is_empty() && !form.confirm_duplicate {
            return Ok(CreateCustomerResult {
                created: false,
                customer_id: None,
                matches,
                state_label: None,
            });
        }
        let record_id: RecordId = client.new_record_id();
        let (_, state) = client
            .save(NewChange {
                change_id,
                record_type: RecordType::Customer,
                record_id,
                group: None,
                op: Op::Create,
                values: Value::Object(values),
                file_sha256: None,
            })
            .await?;
        if let Some(draft) = &form.action_id {
            client
                .cache()
                .close_draft(draft, &record_id.to_string())
                .await?;
        }
        Ok(CreateCustomerResult {
            created: true,
            customer_id: Some(record_id.to_string()),
            matches,
            state_label: Some(state.label(client.now())),
        })
    }

    /// The new customer form left open last (none once it became a customer or was discarded).
    pub async fn customer_draft(&self) -> Result<Option<CustomerDraft>, AppError> {
        let drafts = self.active()?.cache().drafts(RecordType::Customer).await?;
        Ok(drafts
            .into_iter()
            .next()
            .map(|(action_id, values, saved_at)| CustomerDraft {
                form: NewCustomerForm::from_values(action_id, &values),
                saved_at: Some(saved_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
            }))
    }

    /// Keeps the new customer form as typed, under its action id, in the shape a create carries
    /// (so another form's check compares with it too).
    pub async fn save_customer_draft(&self, form: NewCustomerForm) -> Result<(), AppError> {
        let Some(action_id) = form.action_id.clone() else {
            return Err(AppError::new(
                "invalid",
                "a draft needs the form's action id",
            ));
        };
        parse_action_id(Some(&action_id))?;
        let client = self.active()?;
        client
            .cache()
            .save_draft(
                &action_id,
                RecordType::Customer,
                &form.values(),
                client.now(),
            )
            .await?;
        Ok(())
    }

    /// The person throws the form away: the draft stays on the device, no longer offered.
    pub async fn discard_customer_draft(&self, args: DraftArgs) -> Result<(), AppError> {
        parse_action_id(Some(&args.action_id))?;
        self.active()?
            .cache()
            .close_draft(&args.action_id, "discarded")
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(a: Value, b: Value) -> Option<&'static str> {
        Likeness::of(&a).like(&Likeness::of(&b))
    }

    #[test]
    fn near_duplicates_are_named_with_why_and_strangers_are_not() {
        let bakery = json!({"name": "Northgate Bakery", "phone": "+44 20 7946 0102", "site_address": "3 Northgate St"});
        let rows = [
            (
                json!({"name": "northgate bakery ltd"}),
                Some("the same name"),
            ),
            (
                json!({"name": "N. Bakes", "phone": "020 7946 0102"}),
                Some("the same phone"),
            ),
            (json!({"name": "N. Bakes", "phone": "020 7946 0103"}), None),
            (
                json!({"name": "N. Bakes", "phone": "+44 (20) 7946-0102"}),
                Some("the same phone"),
            ),
            (
                json!({"name": "Northgate Bakery & Cafe"}),
                Some("a similar name"),
            ),
            (
                json!({"name": "Bakery Northgate Street", "site_address": "3 Northgate St."}),
                Some("a similar name at the same address"),
            ),
            (json!({"name": "Harbour View Apartments"}), None),
        ];
        for (candidate, want) in rows {
            assert_eq!(like(candidate.clone(), bakery.clone()), want, "{candidate}");
        }
    }
}
