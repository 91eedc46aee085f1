//! One job: its field groups with their policy badges (edited through `edit`), its change-log
//! timeline (the server's, or this device's own outbox without the server), its notes, what this
//! person may do to it; moving its status on, and reopening it. It leans on [`crate::board`] for
//! the job's card, [`crate::session`] for what this person may do and [`crate::rules`] for the
//! policy.

use chrono::SecondsFormat;
use fieldsync_client::{NewChange, OutboxState};
use fieldsync_core::lifecycle::{self, State};
use fieldsync_core::wire::{LogKind, RecordHistory, ReopenRequest};
use fieldsync_core::{Group, Op, OutcomeStatus, RecordId, RecordType};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ts_rs::TS;

use crate::ids::{parse_action_id, parse_id};
use crate::views::{text, GroupView, JobCard, SaveResult};
use crate::{App, AppError};

/// What an entry of a job's timeline was: a word of the timeline, not a lifecycle state (its
/// `Voided` is the void that was logged, whatever state the record is in now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum TimelineKind {
    Created,
    Applied,
    Held,
    Rejected,
    Pending,
    Resolved,
    Reassigned,
    Reopened,
    Voided,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: String,
    pub who: String,
    pub device: Option<String>,
    pub kind: TimelineKind,
    pub group: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct JobDetail {
    pub card: JobCard,
    pub groups: Vec<GroupView>,
    pub timeline: Vec<TimelineEntry>,
    /// Whether the timeline came from the server (false: this device's own history only).
    pub timeline_from_server: bool,
    pub notes: Vec<String>,
    pub can_reopen: bool,
    pub can_reassign: bool,
    pub can_change_status: bool,
    /// This person may void the job (a voider the policy names; the job not already voided).
    pub can_void: bool,
    /// Work has begun on it: the void dialog says so.
    pub work_started: bool,
    pub next_states: Vec<State>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct StatusArgs {
    pub job_id: String,
    pub state: State,
    /// The status group's `version` as the page showed it: a status someone else set meanwhile
    /// makes this a collision for review, not a silent overwrite. Left out: the newest.
    #[ts(type = "number | null")]
    pub base_version: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReopenArgs {
    pub job_id: String,
    pub reason: String,
}

/// Voiding a job from its panel, after the dialog said who works on it and what is unsynced.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct VoidArgs {
    pub job_id: String,
    /// Why: required; the void carries it and the timeline shows it.
    pub reason: String,
    /// The status group's version as the dialog showed it: a status someone set meanwhile
    /// (a technician starting the job) meets the void as a collision for review, not a void
    /// of work the person never saw.
    #[ts(type = "number | null")]
    pub base_version: Option<i64>,
    /// The dialog's action id, so a double click is one void.
    pub action_id: Option<String>,
}

impl App {
    /// One job: its groups with policy badges, its timeline, and what this user may do to it.
    pub async fn job(&self, job_id: String) -> Result<JobDetail, AppError> {
        let id = parse_id(&job_id)?;
        let view = self
            .active()?
            .record(id)
            .await?
            .ok_or_else(|| AppError::new("not_found", "this job is not on this device"))?;
        let policy = self.policy().await;
        let card = self.card(&view).await;
        let groups = self.group_views(RecordType::Job, &view, &card.state, &policy);
        let (timeline, from_server) = match self.active()?.history(RecordType::Job, id).await {
            Ok(history) => (timeline_from_server(&history), true),
            Err(_) => (self.local_timeline(id).await?, false),
        };
        let mut notes = Vec::new();
        for note in self.active()?.records(RecordType::JobNote).await? {
            if note.record.job_id == Some(id) {
                if let Some(t) = note.values.get(&Group::Text).and_then(|t| text(t, "text")) {
                    notes.push(t);
                }
            }
        }
        let role = self.role();
        let can = role.map(App::permissions).unwrap_or_default();
        // The moves the core allows this person from where the job stands, so the page never
        // offers one the server refuses.
        let next_states = role
            .map(|r| lifecycle::next_states(RecordType::Job, card.state, r))
            .unwrap_or_default();
        let can_void = role.is_some_and(|r| policy.type_rule(RecordType::Job).voiders.contains(&r))
            && !card.state.is_voided();
        Ok(JobDetail {
            can_void,
            work_started: card.state.is_work_started(),
            can_reopen: can.reopen && card.state.is_reopenable(),
            can_reassign: can.reassign && card.state.is_open(),
            can_change_status: can.change_status && card.state.is_open(),
            next_states,
            card,
            groups,
            timeline,
            timeline_from_server: from_server,
            notes,
        })
    }

    async fn local_timeline(&self, id: RecordId) -> Result<Vec<TimelineEntry>, AppError> {
        let me = self.active()?.user().map(|u| u.name).unwrap_or_default();
        let now = self.active()?.now();
        Ok(self
            .active()?
            .cache()
            .outbox_for(id)
            .await?
            .into_iter()
            .map(|row| TimelineEntry {
                seq: row.position,
                at: row.saved_at.to_rfc3339(),
                who: me.clone(),
                device: Some("this device".into()),
                kind: match row.state {
                    OutboxState::Synced => TimelineKind::Applied,
                    OutboxState::Pending => TimelineKind::Pending,
                    OutboxState::Held => TimelineKind::Held,
                    OutboxState::Rejected => TimelineKind::Rejected,
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

    /// A status change, saved to this device's outbox first.
    pub async fn set_status(&self, args: StatusArgs) -> Result<SaveResult, AppError> {
        let id = parse_id(&args.job_id)?;
        let change = NewChange {
            change_id: None,
            record_type: RecordType::Job,
            record_id: id,
            group: Some(Group::Status),
            op: Op::Update,
            values: json!({"state": args.state}),
            file_sha256: None,
        };
        let (change_id, state) = self.active()?.save_seen(change, args.base_version).await?;
        Ok(SaveResult {
            change_id: change_id.to_string(),
            state_label: state.label(self.active()?.now()),
        })
    }

    /// Voids the job (never deletes it): the void goes through the outbox like any change, on
    /// the status version the dialog showed.
    pub async fn void_job(&self, args: VoidArgs) -> Result<SaveResult, AppError> {
        let id = parse_id(&args.job_id)?;
        let reason = args.reason.trim();
        if reason.is_empty() {
            return Err(AppError::new(
                "invalid",
                "Say why the job is voided: the reason stays in its timeline.",
            ));
        }
        let change = NewChange {
            change_id: parse_action_id(args.action_id.as_deref())?,
            record_type: RecordType::Job,
            record_id: id,
            group: Some(Group::Status),
            op: Op::Void,
            values: json!({ "reason": reason }),
            file_sha256: None,
        };
        let (change_id, state) = self.active()?.save_seen(change, args.base_version).await?;
        Ok(SaveResult {
            change_id: change_id.to_string(),
            state_label: state.label(self.active()?.now()),
        })
    }

    pub async fn reopen(&self, args: ReopenArgs) -> Result<JobDetail, AppError> {
        let id = parse_id(&args.job_id)?;
        let request = ReopenRequest {
            reason: args.reason.clone(),
        };
        self.active()?.reopen(RecordType::Job, id, &request).await?;
        let _ = self.active()?.sync_now().await;
        self.job(args.job_id).await
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

fn timeline_from_server(history: &RecordHistory) -> Vec<TimelineEntry> {
    let mut out: Vec<TimelineEntry> = history
        .entries
        .iter()
        .map(|e| {
            let (op, group, values) = (e.op, e.group, &e.values);
            let kind = match (e.kind, e.outcome.status, op) {
                (LogKind::Resolution, _, _) => TimelineKind::Resolved,
                (LogKind::Reassign, _, _) => TimelineKind::Reassigned,
                (LogKind::Reopen, _, _) => TimelineKind::Reopened,
                (_, OutcomeStatus::Held, _) => TimelineKind::Held,
                (_, OutcomeStatus::Rejected, _) => TimelineKind::Rejected,
                (_, _, Op::Create) => TimelineKind::Created,
                (_, _, Op::Void) => TimelineKind::Voided,
                _ => TimelineKind::Applied,
            };
            let mut line = match kind {
                TimelineKind::Reassigned => {
                    let to = text(values, "assignee").unwrap_or_else(|| "a team".into());
                    // The dispatcher's reason is the reassignment's log message.
                    match &e.outcome.message {
                        Some(reason) => format!("reassigned to {to}: {reason}"),
                        None => format!("reassigned to {to}"),
                    }
                }
                TimelineKind::Reopened => {
                    // The reason is kept with the visit the reopen closed (the last one).
                    let reason = values["visits"]
                        .as_array()
                        .and_then(|v| v.last())
                        .and_then(|v| text(v, "reason"));
                    match reason {
                        Some(reason) => format!("reopened for a new visit: {reason}"),
                        None => "reopened for a new visit".into(),
                    }
                }
                TimelineKind::Resolved => {
                    format!("review resolved: {}", describe(&op, group, values))
                }
                _ => describe(&op, group, values),
            };
            if let Some(message) = &e.outcome.message {
                if matches!(kind, TimelineKind::Held | TimelineKind::Rejected) {
                    line = format!("{line}: {message}");
                }
            }
            TimelineEntry {
                seq: e.seq,
                at: e.server_time.to_rfc3339_opts(SecondsFormat::Millis, true),
                who: e.author.clone(),
                device: e.device_id.map(|d| d.to_string()),
                kind,
                group: group.map(|g| g.as_str().into()),
                text: line,
            }
        })
        .collect();
    out.reverse();
    out
}
