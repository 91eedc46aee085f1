//! The desktop app's command layer: every operation the office performs (board, reassign,
//! inbox, resolve, reopen, history, sync now) over the sync client. The Tauri shell exposes these
//! as commands; [`bridge`] serves the same over loopback HTTP for a headless demo and browser
//! tests. No Tauri types here.

pub mod bridge;
mod edit;
pub mod report;
pub mod views;

use chrono::{DateTime, Utc};
use fieldsync_client::{NewChange, SyncClient};
use fieldsync_core::model::{
    job_transition_allowed, may_list_devices, may_reassign, may_reopen, may_see_sync_review,
};
use fieldsync_core::{ChangeId, Group, Op, Owner, Policy, RecordId, RecordType, Role};
use serde_json::{json, Value};
use std::sync::Mutex;

pub use views::*;

/// The app: one signed-in office device.
pub struct App {
    client: SyncClient,
    devices: Mutex<Vec<Value>>,
    policy: Mutex<Option<Policy>>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - then).num_minutes().max(0);
    match minutes {
        0 => "just now".into(),
        m if m < 60 => format!("{m} min ago"),
        m if m < 48 * 60 => format!("{} h ago", m / 60),
        m => format!("{} days ago", m / (24 * 60)),
    }
}

fn parse_id(id: &str) -> Result<RecordId, AppError> {
    id.parse()
        .map_err(|_| AppError::new("invalid", format!("`{id}` is not a record id")))
}

fn level_of(state: &fieldsync_client::ChangeState) -> &'static str {
    use fieldsync_client::ChangeState::*;
    match state {
        Synced => "synced",
        SavedOnDevice | WaitingToSync => "pending",
        SyncFailed { .. } => "failed",
        Held { .. } => "held",
        Rejected { .. } => "rejected",
    }
}

impl App {
    pub fn new(client: SyncClient) -> App {
        App {
            client,
            devices: Mutex::new(Vec::new()),
            policy: Mutex::new(None),
        }
    }

    pub fn client(&self) -> &SyncClient {
        &self.client
    }

    fn role(&self) -> Option<Role> {
        self.client.user().map(|u| u.role)
    }

    fn permissions(role: Role) -> Permissions {
        Permissions {
            create_job: matches!(role, Role::Dispatcher | Role::Supervisor),
            reassign: may_reassign(role),
            reopen: may_reopen(role),
            change_status: matches!(role, Role::Supervisor),
            edit_customers: matches!(role, Role::Office | Role::Dispatcher),
            finance: matches!(role, Role::Finance),
            see_devices: may_list_devices(role),
            sync_review: may_see_sync_review(role),
        }
    }

    pub fn session(&self) -> Option<SessionInfo> {
        self.client.user().map(|u| SessionInfo {
            can: App::permissions(u.role),
            user: u.name,
            display_name: u.display_name,
            role: u.role.as_str().to_string(),
            team: u.team,
        })
    }

    pub async fn sign_in(&self, args: SignInArgs) -> Result<SessionInfo, AppError> {
        self.client.login(&args.username, &args.password).await?;
        // A first sync fills the board; a failure here is shown by the banner, not as a sign-in error.
        let _ = self.client.sync_now().await;
        self.refresh_devices().await;
        self.session()
            .ok_or_else(|| AppError::new("unauthenticated", "sign-in did not complete"))
    }

    pub async fn sign_out(&self) -> Result<(), AppError> {
        Ok(self.client.sign_out().await?)
    }

    /// The server's policy, kept for when it is unreachable; the shipped one before the first.
    async fn policy(&self) -> Policy {
        if let Ok(answer) = self.client.call_api("GET", "/api/v1/policy", None).await {
            if let Ok(policy) = serde_json::from_value::<Policy>(answer["policy"].clone()) {
                *self.policy.lock().unwrap_or_else(|p| p.into_inner()) = Some(policy.clone());
                return policy;
            }
        }
        self.policy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(Policy::default_policy)
    }

    async fn refresh_devices(&self) {
        if !self.role().is_some_and(may_list_devices) {
            return;
        }
        if let Ok(Value::Array(list)) = self.client.call_api("GET", "/api/v1/devices", None).await {
            let _ = self
                .client
                .cache()
                .set_meta("devices", &Value::Array(list.clone()).to_string())
                .await;
            *self.devices.lock().unwrap_or_else(|p| p.into_inner()) = list;
        } else if self
            .devices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
        {
            if let Ok(Some(saved)) = self.client.cache().meta("devices").await {
                if let Ok(Value::Array(list)) = serde_json::from_str(&saved) {
                    *self.devices.lock().unwrap_or_else(|p| p.into_inner()) = list;
                }
            }
        }
    }

    fn owner_view(&self, owner: &Owner) -> OwnerView {
        let devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        match owner {
            Owner::User(name) => {
                let mine: Vec<&Value> = devices
                    .iter()
                    .filter(|d| text(d, "user").as_deref() == Some(name))
                    .filter(|d| d["revoked_at"].is_null())
                    .collect();
                let newest = mine.iter().max_by_key(|d| text(d, "last_seen"));
                let unsynced: i64 = mine.iter().filter_map(|d| d["outbox_depth"].as_i64()).sum();
                OwnerView {
                    kind: "user".into(),
                    name: name.clone(),
                    display_name: newest
                        .and_then(|d| text(d, "display_name"))
                        .unwrap_or_else(|| name.clone()),
                    team: newest.and_then(|d| text(d, "team")),
                    device: newest.and_then(|d| text(d, "name")),
                    last_seen: newest.and_then(|d| text(d, "last_seen")),
                    unsynced: if mine.is_empty() {
                        None
                    } else {
                        Some(unsynced)
                    },
                }
            }
            Owner::Team(team) => OwnerView {
                kind: "team".into(),
                name: team.clone(),
                display_name: format!("{team} team"),
                team: Some(team.clone()),
                device: None,
                last_seen: None,
                unsynced: None,
            },
        }
    }

    pub async fn sync_status(&self) -> Result<SyncBanner, AppError> {
        let status = self.client.status().await?;
        let now = self.client.now();
        let pending = status.changes.pending + status.files.pending;
        let failing = [&status.changes, &status.files]
            .into_iter()
            .any(|l| l.failures > 0 && l.pending > 0);
        let level = if failing || !status.server_reachable {
            "failed"
        } else if pending > 0 {
            "pending"
        } else if status.needs_attention > 0 {
            "attention"
        } else {
            "ok"
        };
        let mut text = status.banner(now);
        if !status.server_reachable && !failing {
            text = format!("The server is unreachable. Working from this device's copy. {text}");
        }
        let next = [status.changes.next_attempt, status.files.next_attempt]
            .into_iter()
            .flatten()
            .min();
        Ok(SyncBanner {
            level: level.into(),
            text,
            next_sync: next.map(|t| t.to_rfc3339()),
            changes_pending: status.changes.pending as u32,
            files_pending: status.files.pending as u32,
            server_reachable: status.server_reachable,
            summary: status.summary,
        })
    }

    /// "Sync now": both lanes at once; the banner says what still failed.
    pub async fn sync_now(&self) -> Result<SyncBanner, AppError> {
        let report = self.client.sync_now().await?;
        self.refresh_devices().await;
        let mut banner = self.sync_status().await?;
        if !report.failed.is_empty() {
            banner.level = "failed".into();
        }
        Ok(banner)
    }

    async fn customer_name(&self, id: Option<&str>) -> String {
        let Some(id) = id.and_then(|i| i.parse::<RecordId>().ok()) else {
            return "—".into();
        };
        match self.client.record(id).await {
            Ok(Some(view)) => view
                .values
                .get(&Group::Profile)
                .and_then(|p| text(p, "name"))
                .unwrap_or_else(|| "—".into()),
            _ => "—".into(),
        }
    }

    async fn card(&self, view: &fieldsync_client::client::RecordView) -> JobCard {
        let schedule = view
            .values
            .get(&Group::Schedule)
            .cloned()
            .unwrap_or(Value::Null);
        let status = view
            .values
            .get(&Group::Status)
            .cloned()
            .unwrap_or(Value::Null);
        let summary = view
            .values
            .get(&Group::Description)
            .and_then(|d| text(d, "summary"))
            .unwrap_or_default();
        JobCard {
            id: view.record.record_id.to_string(),
            number: view.record.number.clone(),
            customer: self
                .customer_name(text(&schedule, "customer_id").as_deref())
                .await,
            site: text(&schedule, "site").unwrap_or_default(),
            state: text(&status, "state").unwrap_or_else(|| view.record.state.clone()),
            summary,
            window_start: text(&schedule, "window_start"),
            owner: self.owner_view(&view.record.owner),
            sync_label: view.state.label(self.client.now()),
            sync_level: level_of(&view.state).into(),
            read_only: view.record.read_only,
        }
    }

    /// Every job with its owner, status and sync state; filtered and searched.
    pub async fn board(&self, filter: BoardFilter) -> Result<Vec<JobCard>, AppError> {
        if self
            .devices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
        {
            self.refresh_devices().await;
        }
        let needle = filter
            .text
            .as_deref()
            .map(str::to_lowercase)
            .filter(|s| !s.is_empty());
        let mut cards = Vec::new();
        for view in self.client.records(RecordType::Job).await? {
            let card = self.card(&view).await;
            if let Some(state) = &filter.state {
                if !state.is_empty() && &card.state != state {
                    continue;
                }
            }
            if let Some(needle) = &needle {
                let hay = format!(
                    "{} {} {} {} {} {}",
                    card.number.clone().unwrap_or_default(),
                    card.customer,
                    card.site,
                    card.summary,
                    card.owner.display_name,
                    card.owner.name
                )
                .to_lowercase();
                if !hay.contains(needle) {
                    continue;
                }
            }
            cards.push(card);
        }
        Ok(cards)
    }

    pub async fn customers(&self) -> Result<Vec<CustomerView>, AppError> {
        Ok(self
            .client
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
                }
            })
            .collect())
    }

    /// One job: its groups with policy badges, its timeline, and what this user may do to it.
    pub async fn job(&self, job_id: String) -> Result<JobDetail, AppError> {
        let id = parse_id(&job_id)?;
        let view = self
            .client
            .record(id)
            .await?
            .ok_or_else(|| AppError::new("not_found", "this job is not on this device"))?;
        let policy = self.policy().await;
        let card = self.card(&view).await;
        let groups = self.group_views(RecordType::Job, &view, &card.state, &policy);
        let (timeline, from_server) = match self
            .client
            .call_api("GET", &format!("/api/v1/records/job/{id}/history"), None)
            .await
        {
            Ok(history) => (timeline_from_server(&history), true),
            Err(_) => (self.local_timeline(id).await?, false),
        };
        let mut notes = Vec::new();
        for note in self.client.records(RecordType::JobNote).await? {
            if note.record.job_id == Some(id) {
                if let Some(t) = note.values.get(&Group::Text).and_then(|t| text(t, "text")) {
                    notes.push(t);
                }
            }
        }
        let role = self.role();
        let can = role.map(App::permissions).unwrap_or_default();
        let next_states = ["opened", "in_progress", "paused", "signed_off", "closed"]
            .into_iter()
            .filter(|to| *to != card.state && job_transition_allowed(&card.state, to))
            .map(str::to_string)
            .collect();
        Ok(JobDetail {
            can_reopen: can.reopen && matches!(card.state.as_str(), "closed" | "signed_off"),
            can_reassign: can.reassign
                && !matches!(card.state.as_str(), "closed" | "voided" | "archived"),
            can_change_status: can.change_status
                && !matches!(card.state.as_str(), "closed" | "voided" | "archived"),
            next_states,
            card,
            groups,
            timeline,
            timeline_from_server: from_server,
            notes,
        })
    }

    async fn local_timeline(&self, id: RecordId) -> Result<Vec<TimelineEntry>, AppError> {
        let me = self.client.user().map(|u| u.name).unwrap_or_default();
        let now = self.client.now();
        Ok(self
            .client
            .cache()
            .outbox_for(id)
            .await?
            .into_iter()
            .map(|row| TimelineEntry {
                seq: row.position,
                at: row.saved_at.to_rfc3339(),
                who: me.clone(),
                device: Some("this device".into()),
                kind: match row.state.as_str() {
                    "synced" => "applied".into(),
                    other => other.into(),
                },
                group: row.change.group.map(|g| g.as_str().into()),
                text: format!(
                    "{} ({})",
                    describe(&row.change.op, row.change.group, &row.change.values),
                    row.saved_at.format("%H:%M")
                )
                .replace(&format!("({})", now.format("%H:%M")), "(now)"),
            })
            .collect())
    }

    /// The review inbox for this user's role, newest first.
    pub async fn inbox(&self) -> Result<Vec<ReviewCard>, AppError> {
        let items: Vec<fieldsync_core::wire::ReviewItem> =
            match self.client.call_api("GET", "/api/v1/review", None).await {
                Ok(list) => serde_json::from_value(list)
                    .map_err(|e| AppError::new("internal", e.to_string()))?,
                Err(_) => self.client.review_items().await?,
            };
        let role = self.role();
        Ok(items
            .into_iter()
            .map(|item| review_card(item, role))
            .collect())
    }

    pub async fn resolve(&self, args: ResolveArgs) -> Result<ReviewCard, AppError> {
        let body = json!({"choice": args.choice, "values": args.values});
        let answer = self
            .client
            .call_api(
                "POST",
                &format!("/api/v1/review/{}/resolve", args.review_id),
                Some(body),
            )
            .await?;
        let item: fieldsync_core::wire::ReviewItem = serde_json::from_value(answer["item"].clone())
            .map_err(|e| AppError::new("internal", e.to_string()))?;
        let _ = self.client.sync_now().await;
        Ok(review_card(item, self.role()))
    }

    /// Before a reassignment: who owns the job now, and a warning when their device has unsynced
    /// work or has not been seen for a while.
    pub async fn reassign_check(&self, job_id: String) -> Result<ReassignCheck, AppError> {
        let id = parse_id(&job_id)?;
        self.refresh_devices().await;
        let view = self
            .client
            .record(id)
            .await?
            .ok_or_else(|| AppError::new("not_found", "this job is not on this device"))?;
        let owner = self.owner_view(&view.record.owner);
        let now = self.client.now();
        let mut parts = Vec::new();
        if let Some(n) = owner.unsynced.filter(|n| *n > 0) {
            parts.push(format!(
                "{n} change{} not yet synced",
                if n == 1 { "" } else { "s" }
            ));
        }
        if let Some(seen) = owner
            .last_seen
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        {
            let seen = seen.with_timezone(&Utc);
            if now - seen > chrono::Duration::minutes(30) || !parts.is_empty() {
                parts.push(format!("last seen {}", ago(seen, now)));
            }
        } else if owner.kind == "user" {
            parts.push("never seen by the server".into());
        }
        let warning = if parts.is_empty() {
            None
        } else {
            Some(format!(
                "{}: {}",
                owner
                    .device
                    .clone()
                    .unwrap_or_else(|| format!("{}'s device", owner.display_name)),
                parts.join(", ")
            ))
        };
        let devices = self
            .devices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut names: Vec<String> = devices
            .iter()
            .filter(|d| text(d, "role").as_deref() == Some("technician"))
            .filter_map(|d| text(d, "user"))
            .collect();
        names.sort();
        names.dedup();
        let candidates = names
            .iter()
            .filter(|n| **n != owner.name)
            .map(|n| self.owner_view(&Owner::User(n.clone())))
            .collect();
        Ok(ReassignCheck {
            current_owner: owner,
            warning,
            candidates,
        })
    }

    pub async fn reassign(&self, args: ReassignArgs) -> Result<JobCard, AppError> {
        let id = parse_id(&args.job_id)?;
        self.client
            .call_api(
                "POST",
                &format!("/api/v1/records/job/{id}/reassign"),
                Some(json!({"owner": {"kind": "user", "name": args.to_user}})),
            )
            .await?;
        let _ = self.client.sync_now().await;
        let view = self
            .client
            .record(id)
            .await?
            .ok_or_else(|| AppError::new("not_found", "this job is not on this device"))?;
        Ok(self.card(&view).await)
    }

    pub async fn reopen(&self, args: ReopenArgs) -> Result<JobDetail, AppError> {
        let id = parse_id(&args.job_id)?;
        self.client
            .call_api(
                "POST",
                &format!("/api/v1/records/job/{id}/reopen"),
                Some(json!({"reason": args.reason})),
            )
            .await?;
        let _ = self.client.sync_now().await;
        self.job(args.job_id).await
    }

    /// A status change, saved to this device's outbox first.
    pub async fn set_status(&self, args: StatusArgs) -> Result<SaveResult, AppError> {
        let id = parse_id(&args.job_id)?;
        let (change_id, state) = self
            .client
            .save(NewChange {
                change_id: None,
                record_type: RecordType::Job,
                record_id: id,
                group: Some(Group::Status),
                op: Op::Update,
                values: json!({"state": args.state}),
                file_sha256: None,
            })
            .await?;
        Ok(SaveResult {
            change_id: change_id.to_string(),
            state_label: state.label(self.client.now()),
        })
    }

    /// Creates a job after the match-before-create check: with matches and no confirmation it
    /// offers them instead ("This looks like J-000248, opened 10 minutes ago").
    pub async fn create_job(&self, form: NewJobForm) -> Result<CreateJobResult, AppError> {
        if form.customer_id.is_empty() || form.site.trim().is_empty() {
            return Err(AppError::new("invalid", "choose a customer and a site"));
        }
        let candidate = fieldsync_client::matching::JobCandidate {
            customer_id: form.customer_id.clone(),
            site: form.site.clone(),
            window_start: form.window_start.clone(),
            summary: form.summary.clone(),
        };
        let matches: Vec<MatchView> = self
            .client
            .find_matches(&candidate)
            .await?
            .into_iter()
            .map(|m| MatchView {
                source: format!("{:?}", m.source),
                id: m.id,
                number: m.number,
                message: m.message,
            })
            .collect();
        if !matches.is_empty() && !form.confirm_duplicate {
            return Ok(CreateJobResult {
                created: false,
                job_id: None,
                matches,
                state_label: None,
            });
        }
        let change_id = form
            .action_id
            .as_deref()
            .and_then(|a| a.parse::<uuid::Uuid>().ok())
            .map(ChangeId);
        let record_id = self.client.new_record_id();
        let mut schedule =
            json!({"customer_id": form.customer_id, "site": form.site, "assignee": form.assignee});
        if let Some(start) = form.window_start.filter(|s| !s.is_empty()) {
            schedule["window_start"] = json!(start);
        }
        let (_, state) = self
            .client
            .save(NewChange {
                change_id,
                record_type: RecordType::Job,
                record_id,
                group: None,
                op: Op::Create,
                values: json!({"schedule": schedule, "description": {"summary": form.summary}}),
                file_sha256: None,
            })
            .await?;
        Ok(CreateJobResult {
            created: true,
            job_id: Some(record_id.to_string()),
            matches,
            state_label: Some(state.label(self.client.now())),
        })
    }
}

impl App {
    /// The policy in force, in plain words per record type and field group.
    pub async fn rules(&self) -> Result<Vec<RuleView>, AppError> {
        let policy = self.policy().await;
        let mut out = Vec::new();
        for record_type in RecordType::ALL {
            for group in record_type.groups() {
                if let (Some(rule), Some(explanation)) = (
                    policy.rule(record_type, *group),
                    policy.explain(record_type, *group),
                ) {
                    out.push(RuleView {
                        record_type: record_type.as_str().replace('_', " "),
                        group: group.as_str().into(),
                        policy: rule.policy.as_str().replace('_', " "),
                        explanation: explanation
                            .split_once('\n')
                            .map(|(_, rest)| rest.replace('\n', " "))
                            .unwrap_or_default(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Invoices with their totals, and which totals wait for finance's review.
    pub async fn invoices(&self) -> Result<Vec<InvoiceCard>, AppError> {
        let open: Vec<(String, String)> = self
            .inbox()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.kind == "conflict" && r.group.as_deref() == Some("totals"))
            .map(|r| (r.record_id, r.id))
            .collect();
        let mut out = Vec::new();
        for view in self.client.records(RecordType::Invoice).await? {
            let totals = view
                .values
                .get(&Group::Totals)
                .cloned()
                .unwrap_or(Value::Null);
            let status = view
                .values
                .get(&Group::Status)
                .cloned()
                .unwrap_or(Value::Null);
            let job_number = match text(&totals, "job_id").and_then(|j| j.parse::<RecordId>().ok())
            {
                Some(job) => self.client.record(job).await?.and_then(|j| j.record.number),
                None => None,
            };
            let id = view.record.record_id.to_string();
            let review = open
                .iter()
                .find(|(record, _)| *record == id)
                .map(|(_, review)| review.clone());
            out.push(InvoiceCard {
                number: view.record.number.clone(),
                job_number,
                state: text(&status, "state").unwrap_or_else(|| view.record.state.clone()),
                currency: text(&totals, "currency").unwrap_or_default(),
                subtotal: totals.get("subtotal").and_then(Value::as_f64),
                tax: totals.get("tax").and_then(Value::as_f64),
                total: totals.get("total").and_then(Value::as_f64),
                under_review: review.is_some(),
                review_id: review,
                sync_label: view.state.label(self.client.now()),
                id,
            });
        }
        Ok(out)
    }
}

fn describe(op: &Op, group: Option<Group>, values: &Value) -> String {
    match (op, group) {
        (Op::Create, _) => "created".into(),
        (Op::Void, _) => format!("voided: {}", text(values, "reason").unwrap_or_default()),
        (_, Some(Group::Status)) => format!(
            "status → {}",
            text(values, "state").unwrap_or_default().replace('_', " ")
        ),
        (_, Some(group)) => {
            let fields: Vec<String> = values
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            format!("{} changed ({})", group.as_str(), fields.join(", "))
        }
        _ => "changed".into(),
    }
}

fn timeline_from_server(history: &Value) -> Vec<TimelineEntry> {
    let Some(entries) = history["entries"].as_array() else {
        return Vec::new();
    };
    let mut out: Vec<TimelineEntry> = entries
        .iter()
        .map(|e| {
            let op = match e["op"].as_str() {
                Some("create") => Op::Create,
                Some("void") => Op::Void,
                _ => Op::Update,
            };
            let group = e["group"].as_str().and_then(Group::parse);
            let status = e["outcome"]["status"].as_str().unwrap_or("applied");
            let kind = match (e["kind"].as_str(), status, op) {
                (Some("resolution"), _, _) => "resolved",
                (Some("reassign"), _, _) => "reassigned",
                (Some("reopen"), _, _) => "reopened",
                (_, "held", _) => "held",
                (_, "rejected", _) => "rejected",
                (_, _, Op::Create) => "created",
                (_, _, Op::Void) => "voided",
                _ => "applied",
            };
            let mut line = match kind {
                "reassigned" => format!(
                    "reassigned to {}",
                    text(&e["values"], "assignee").unwrap_or_else(|| "a team".into())
                ),
                "reopened" => "reopened for a new visit".into(),
                "resolved" => format!("review resolved: {}", describe(&op, group, &e["values"])),
                _ => describe(&op, group, &e["values"]),
            };
            if let Some(message) = e["outcome"]["message"].as_str() {
                if kind == "held" || kind == "rejected" {
                    line = format!("{line}: {message}");
                }
            }
            TimelineEntry {
                seq: e["seq"].as_i64().unwrap_or(0),
                at: text(e, "server_time").unwrap_or_default(),
                who: text(e, "author").unwrap_or_default(),
                device: text(e, "device_id"),
                kind: kind.into(),
                group: group.map(|g| g.as_str().into()),
                text: line,
            }
        })
        .collect();
    out.reverse();
    out
}

fn side(side: &fieldsync_core::wire::VersionSide) -> SideView {
    SideView {
        values: side.values.clone(),
        who: side.author.clone(),
        when: side.server_time.map(|t| t.to_rfc3339()),
        device: side
            .device_name
            .clone()
            .or_else(|| side.device_id.map(|d| d.to_string())),
        version: side.version,
    }
}

fn review_card(item: fieldsync_core::wire::ReviewItem, role: Option<Role>) -> ReviewCard {
    use fieldsync_core::ReviewKind;
    let what = item
        .group
        .map(|g| g.as_str().replace('_', " "))
        .unwrap_or_else(|| item.record_type.as_str().replace('_', " "));
    let number = item.number.clone().unwrap_or_else(|| "a new record".into());
    let title = match item.kind {
        ReviewKind::Conflict => format!("Two versions of the {what} of {number}"),
        ReviewKind::OwnershipMoved => {
            format!("An edit made by the old owner of {number} after it was reassigned")
        }
        ReviewKind::PossibleDuplicate => format!(
            "{number} may duplicate {}",
            item.matched_number
                .clone()
                .unwrap_or_else(|| "an open job".into())
        ),
        ReviewKind::VoidVsUpdate => format!("{number} was voided and changed at the same time"),
    };
    let mut differing = Vec::new();
    if let (Some(current), incoming) = (&item.current, &item.incoming) {
        if let Some(map) = incoming.values.as_object() {
            for (key, value) in map {
                if current.values.get(key) != Some(value) {
                    differing.push(key.clone());
                }
            }
        }
    }
    ReviewCard {
        id: item.review_id.to_string(),
        kind: item.kind.as_str().into(),
        title,
        record_id: item.record_id.to_string(),
        record_number: item.number.clone(),
        group: item.group.map(|g| g.as_str().into()),
        base: item.base.as_ref().map(side),
        current: item.current.as_ref().map(side),
        incoming: side(&item.incoming),
        differing,
        matched_number: item.matched_number.clone(),
        created_at: item.created_at.to_rfc3339(),
        can_resolve: item.state == "open" && role.is_some_and(|r| item.resolvers.contains(&r)),
        resolvers: item
            .resolvers
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        allows_merge: item.kind == ReviewKind::Conflict,
    }
}
