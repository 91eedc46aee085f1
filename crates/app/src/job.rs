//! One job: its field groups with their policy badges (edited through `edit`), its timeline in
//! sentences (made by [`crate::timeline`] from the job's log and its notes' and part lines'),
//! whether it is final, what this person may do to it; moving its status on, voiding and
//! reopening it. It leans on [`crate::board`] for
//! the job's card, [`crate::session`] for what this person may do and [`crate::rules`] for the
//! policy.

use fieldsync_client::NewChange;
use fieldsync_core::lifecycle::{self, State};
use fieldsync_core::wire::{RecordHistory, ReopenRequest};
use fieldsync_core::{Group, Op, RecordId, RecordType};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ts_rs::TS;

use crate::ids::{parse_action_id, parse_id};
use crate::timeline::{Names, Story};
use crate::views::{text, GroupView, JobCard, SaveResult};
use crate::{App, AppError};

pub use crate::timeline::{TimelineEntry, TimelineKind};

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct JobDetail {
    pub card: JobCard,
    pub groups: Vec<GroupView>,
    pub timeline: Vec<TimelineEntry>,
    /// Whether the timeline came from the server (false: this device's own history only).
    pub timeline_from_server: bool,
    pub notes: Vec<String>,
    /// For a voided or archived job: that it is final and what that means, with its reason.
    pub final_note: Option<String>,
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
        let names = self.names().await;
        let (mut timeline, from_server) = self.timeline(RecordType::Job, id, &names).await?;
        // The notes and part lines are records of their own: their entries join the job's,
        // newest first by the server's time (this device's unsent ones by when they were saved).
        let (notes, told) = self.job_items(id, &names, from_server).await?;
        timeline.extend(told);
        timeline.sort_by(|a, b| b.at.cmp(&a.at).then(b.seq.cmp(&a.seq)));
        let final_note = final_note(&view, card.state);
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
            final_note,
        })
    }

    /// The job's notes (their text, for the page), and the entries of its notes and part lines
    /// for its timeline ("Kai Lee added part TRV-15 ×2"). Each one's log is read once and kept:
    /// a note or a part line is only ever added (an edit of a part line, rare, is read again
    /// when its version moves). Without the server, the log kept is used.
    async fn job_items(
        &self,
        job: RecordId,
        names: &Names,
        online: bool,
    ) -> Result<(Vec<String>, Vec<TimelineEntry>), AppError> {
        let client = self.active()?;
        let (mut notes, mut told) = (Vec::new(), Vec::new());
        for record_type in [RecordType::JobNote, RecordType::PartLine] {
            for item in client.records(record_type).await? {
                if item.record.job_id != Some(job) {
                    continue;
                }
                if record_type == RecordType::JobNote {
                    if let Some(t) = item.values.get(&Group::Text).and_then(|t| text(t, "text")) {
                        notes.push(t);
                    }
                }
                let id = item.record.record_id;
                let version: i64 = item
                    .record
                    .groups
                    .values()
                    .map(|(v, _)| *v)
                    .max()
                    .unwrap_or(0);
                let kept: Option<RecordHistory> = client
                    .cache()
                    .meta(&format!("history:{id}"))
                    .await?
                    .and_then(|s| serde_json::from_str(&s).ok());
                let fresh = kept.as_ref().is_some_and(|h| {
                    h.entries
                        .iter()
                        .filter_map(|e| e.outcome.version)
                        .max()
                        .unwrap_or(1)
                        >= version
                });
                let entries = match kept {
                    Some(h) if fresh || !online => h.entries,
                    _ if online && !item.record.local_only => {
                        self.record_log(record_type, id).await?.0
                    }
                    _ => Vec::new(),
                };
                let mut story = Story::new(record_type, names);
                told.extend(entries.iter().map(|e| story.tell(e)));
            }
        }
        Ok((notes, told))
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

/// What a voided or archived job's page says first: it is final, and what that means (the
/// lifecycle locks both for good: `reopen` takes only a signed-off or closed job).
fn final_note(view: &fieldsync_client::client::RecordView, state: State) -> Option<String> {
    let reason = view
        .values
        .get(&Group::Status)
        .and_then(|s| text(s, "reason"))
        .filter(|r| !r.trim().is_empty());
    let because = reason.map(|r| format!(" Reason: {r}.")).unwrap_or_default();
    match state {
        State::Voided => Some(format!(
            "This job is voided, and that is final: it stays in the records with its history (nothing is deleted), nobody works on it, and it cannot be reopened.{because}"
        )),
        State::Archived => Some(format!(
            "This job is archived, and that is final: it stays in the records with its history (nothing is deleted) and cannot be changed or reopened.{because}"
        )),
        _ => None,
    }
}
