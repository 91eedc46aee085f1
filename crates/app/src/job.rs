//! One job: its field groups with their policy badges (edited through `edit`), its change-log
//! timeline (the server's, or this device's own outbox without the server), its notes, what this
//! person may do to it; moving its status on, and reopening it. It leans on [`crate::board`] for
//! the job's card, [`crate::session`] for what this person may do and [`crate::rules`] for the
//! policy.

use fieldsync_client::NewChange;
use fieldsync_core::model::job_transition_allowed;
use fieldsync_core::{Group, Op, RecordId, RecordType};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ts_rs::TS;

use crate::ids::parse_id;
use crate::views::{text, GroupView, JobCard, SaveResult};
use crate::{App, AppError};

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: String,
    pub who: String,
    pub device: Option<String>,
    /// `created`, `applied`, `held`, `rejected`, `resolved`, `reassigned`, `reopened`, `voided`.
    pub kind: String,
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
    pub next_states: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct StatusArgs {
    pub job_id: String,
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReopenArgs {
    pub job_id: String,
    pub reason: String,
}

impl App {
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
