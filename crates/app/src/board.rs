//! The board: every job with its owner, status and sync state, filtered and searched; creating
//! a job after the match-before-create check; and reassigning one, after a check that warns
//! when the current owner's device has unsynced work or has been quiet. A job's card is made
//! here for every page that shows one (the job page too). It leans on `devices` for owners.

use chrono::{DateTime, Utc};
use fieldsync_client::NewChange;
use fieldsync_core::wire::ReassignRequest;
use fieldsync_core::{Op, Owner, RecordId, RecordType, Role, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ts_rs::TS;

use crate::cards::{customer_name_of, JobFacts};
use crate::ids::{parse_action_id, parse_id};
use crate::views::{text, JobCard, OwnerView};
use crate::{App, AppError};

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct BoardFilter {
    pub text: Option<String>,
    pub state: Option<State>,
    /// The first matching row to answer with (0 when left out).
    #[serde(default)]
    #[ts(optional)]
    pub offset: Option<u32>,
    /// How many rows at most (all when left out): the list asks for the rows it shows.
    #[serde(default)]
    #[ts(optional)]
    pub limit: Option<u32>,
}

/// A page of the board: the rows asked for, and how many there are in all.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct BoardPage {
    /// The jobs that match the search and the status.
    pub total: u32,
    /// The jobs on this device, matching or not.
    pub jobs: u32,
    /// Where `rows` start among the matching jobs.
    pub offset: u32,
    pub rows: Vec<JobCard>,
}

/// A new job form as it was being typed, kept on this device (`save_job_draft`) so a form left
/// open survives a restart; its action id is the draft's id, so the job it becomes is still one.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct JobDraft {
    pub action_id: String,
    pub customer_id: String,
    pub site: String,
    /// As the form holds it (RFC 3339, UTC), or empty.
    pub window_start: Option<String>,
    /// The window's end, the same way (a draft from before it was asked has none).
    #[serde(default)]
    pub window_end: Option<String>,
    pub summary: String,
    pub assignee: String,
    /// When it was last saved (RFC 3339); set by the command layer.
    pub saved_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DraftArgs {
    pub action_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewJobForm {
    /// Made when the form opened (`new_action_id`): saving twice is one job. A UUID; anything
    /// else is refused.
    pub action_id: Option<String>,
    pub customer_id: String,
    pub site: String,
    pub window_start: Option<String>,
    /// When the visit ends (RFC 3339); it must end after it starts (the field rule in core).
    #[serde(default)]
    pub window_end: Option<String>,
    pub summary: String,
    pub assignee: String,
    /// The person saw the possible duplicates and creates anyway.
    pub confirm_duplicate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MatchView {
    pub source: String,
    pub id: String,
    pub number: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CreateJobResult {
    pub created: bool,
    pub job_id: Option<String>,
    pub matches: Vec<MatchView>,
    pub state_label: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReassignCheck {
    /// The ownership epoch this warning is about; the reassignment sends it back, so a job that
    /// changed hands meanwhile is refused instead of moved on a stale warning.
    #[ts(type = "number")]
    pub owner_epoch: i64,
    pub current_owner: OwnerView,
    pub warning: Option<String>,
    /// The technicians it can go to, each with their device's health.
    pub candidates: Vec<OwnerView>,
    /// The teams it can go to (`kind` `team`), each with its technicians' devices summed up.
    pub teams: Vec<OwnerView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReassignArgs {
    pub job_id: String,
    /// The technician it goes to; empty when it goes to a team (`to_team`).
    pub to_user: String,
    /// The team it goes to instead of a person (`Owner::Team`): anyone in the team may take
    /// it, and it waits in the schedule board's unassigned tray. Left out by callers from
    /// before teams could be chosen, who always name a person.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub to_team: Option<String>,
    /// The `owner_epoch` of the check the dialog showed.
    #[ts(type = "number | null")]
    pub owner_epoch: Option<i64>,
    /// Why the job moves: required, kept in the job's log and shown in its timeline.
    pub reason: String,
}

/// A reassignment done, with the one-click way back: the notice's "Undo" reassigns to the
/// previous owner on the epoch this reassignment made, so an undo after someone else moved the
/// job again is refused instead of undoing their move.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Reassigned {
    pub card: JobCard,
    pub from: OwnerView,
    pub to: OwnerView,
    /// Back to the previous owner, a person or a team.
    pub undo: Option<ReassignArgs>,
}

/// A device not heard from for longer than this is "quiet": the board and the reassign dialog
/// say when it was last seen.
pub(crate) const QUIET_MINUTES: i64 = 30;

pub(crate) fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - then).num_minutes().max(0);
    match minutes {
        0 => "just now".into(),
        m if m < 60 => format!("{m} min ago"),
        m if m < 48 * 60 => format!("{} h ago", m / 60),
        m => format!("{} days ago", m / (24 * 60)),
    }
}

impl App {
    /// One customer's name, for a single card (the job page, a reassignment's answer); the
    /// board's cards take theirs from the index's map (see `cards`).
    async fn customer_name(&self, id: Option<&str>) -> String {
        let Some(id) = id.and_then(|i| i.parse::<RecordId>().ok()) else {
            return "—".into();
        };
        let Ok(client) = self.active() else {
            return "—".into();
        };
        match client.record(id).await {
            Ok(Some(view)) => customer_name_of(&view),
            _ => "—".into(),
        }
    }

    pub(crate) async fn card(&self, view: &fieldsync_client::client::RecordView) -> JobCard {
        let reviews = self.under_review().await;
        self.card_with(view, &reviews).await
    }

    /// The records an open review item is about, as this device last pulled them: their rows
    /// and panels read "Needs review" with a way to the card, whatever their own sync state.
    pub(crate) async fn under_review(&self) -> std::collections::HashSet<String> {
        let Ok(client) = self.active() else {
            return Default::default();
        };
        client
            .review_items()
            .await
            .unwrap_or_default()
            .into_iter()
            .flat_map(|item| {
                std::iter::once(item.record_id.to_string())
                    .chain(item.matched_record_id.map(|m| m.to_string()))
            })
            .collect()
    }

    /// One job's card, made the way the board's index makes every card (`cards`).
    pub(crate) async fn card_with(
        &self,
        view: &fieldsync_client::client::RecordView,
        under_review: &std::collections::HashSet<String>,
    ) -> JobCard {
        let facts = JobFacts::of(view);
        let customer = self.customer_name(facts.customer_id()).await;
        facts.card(
            customer,
            self.owner_view(&view.record.owner),
            under_review,
            self.now(),
        )
    }

    /// Every job with its owner, status and sync state; filtered and searched (all of them, or
    /// the page `offset`/`limit` ask for). From the board's index: see [`App::board_page`].
    pub async fn board(&self, filter: BoardFilter) -> Result<Vec<JobCard>, AppError> {
        Ok(self.board_page(filter).await?.rows)
    }

    /// The board as its list shows it: how many jobs match the search and the status, and the
    /// rows `offset`/`limit` ask for (the list draws only the rows on screen, so it asks for
    /// those, not for 5,000 cards on each keystroke). Filtered in memory over the index's cards
    /// (`cards`), which are right as of this call; the search looks in the number, customer,
    /// site, summary and the owner's name and user name, ignoring case.
    pub async fn board_page(&self, filter: BoardFilter) -> Result<BoardPage, AppError> {
        if self
            .devices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
        {
            self.refresh_devices().await;
        }
        let index = self.board_index().await?;
        let needle = filter
            .text
            .as_deref()
            .map(|t| t.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        let matching: Vec<usize> = (0..index.cards.len())
            .filter(|&i| filter.state.is_none_or(|s| index.cards[i].state == s))
            .filter(|&i| {
                needle
                    .as_deref()
                    .is_none_or(|n| index.search[i].contains(n))
            })
            .collect();
        let offset = filter.offset.unwrap_or(0) as usize;
        let limit = filter.limit.map_or(usize::MAX, |l| l as usize);
        Ok(BoardPage {
            total: matching.len() as u32,
            jobs: index.cards.len() as u32,
            offset: offset.min(matching.len()) as u32,
            rows: matching
                .iter()
                .skip(offset)
                .take(limit)
                .map(|&i| index.cards[i].clone())
                .collect(),
        })
    }

    /// Creates a job after the match-before-create check: with matches and no confirmation it
    /// offers them instead ("This looks like J-000248, opened 10 minutes ago").
    pub async fn create_job(&self, form: NewJobForm) -> Result<CreateJobResult, AppError> {
        // Says exactly what is missing, as the form's sentence: "choose a customer and a site"
        // was said to someone who had chosen the customer.
        let missing = match (
            form.customer_id.trim().is_empty(),
            form.site.trim().is_empty(),
        ) {
            (true, true) => Some("Choose the customer and type the site's address."),
            (true, false) => Some("Choose the customer."),
            (false, true) => Some("Type the site's address."),
            (false, false) => None,
        };
        if let Some(sentence) = missing {
            return Err(AppError::new("invalid", sentence));
        }
        let change_id = parse_action_id(form.action_id.as_deref())?;
        let candidate = fieldsync_client::matching::JobCandidate {
            customer_id: form.customer_id.clone(),
            site: form.site.clone(),
            window_start: form.window_start.clone(),
            summary: form.summary.clone(),
            draft_id: form.action_id.clone(),
        };
        let matches: Vec<MatchView> = self
            .active()?
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
        let record_id = self.active()?.new_record_id();
        let mut schedule =
            json!({"customer_id": form.customer_id, "site": form.site, "assignee": form.assignee});
        if let Some(start) = form.window_start.filter(|s| !s.is_empty()) {
            schedule["window_start"] = json!(start);
        }
        if let Some(end) = form.window_end.filter(|s| !s.is_empty()) {
            schedule["window_end"] = json!(end);
        }
        // The field rules (a window ends after it starts) here too, before anything is saved,
        // in the sentence the server would give.
        let problems = fieldsync_core::fields::check_group(
            RecordType::Job,
            fieldsync_core::Group::Schedule,
            &Value::Null,
            &schedule,
        );
        if let Some(problem) = problems.first() {
            return Err(AppError::new("invalid_change", problem.message.clone()));
        }
        let (_, state) = self
            .active()?
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
        if form.confirm_duplicate {
            let seen = matches
                .iter()
                .filter(|m| m.source != "Draft")
                .map(|m| m.id.clone())
                .collect();
            self.confirm_distinct(record_id, seen).await?;
        }
        if let Some(draft) = &form.action_id {
            self.active()?
                .cache()
                .close_draft(draft, &record_id.to_string())
                .await?;
        }
        Ok(CreateJobResult {
            created: true,
            job_id: Some(record_id.to_string()),
            matches,
            state_label: Some(state.label(self.active()?.now())),
        })
    }

    /// The new job form left open last (none once it became a job or was discarded).
    pub async fn job_draft(&self) -> Result<Option<JobDraft>, AppError> {
        let drafts = self.active()?.cache().drafts(RecordType::Job).await?;
        let Some((action_id, values, saved_at)) = drafts.into_iter().next() else {
            return Ok(None);
        };
        let schedule = &values["schedule"];
        let field = |v: &Value, k: &str| text(v, k).unwrap_or_default();
        Ok(Some(JobDraft {
            action_id,
            customer_id: field(schedule, "customer_id"),
            site: field(schedule, "site"),
            window_start: text(schedule, "window_start").filter(|s| !s.is_empty()),
            window_end: text(schedule, "window_end").filter(|s| !s.is_empty()),
            summary: field(&values["description"], "summary"),
            assignee: field(schedule, "assignee"),
            saved_at: Some(saved_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }))
    }

    /// Keeps the new job form as typed, under its action id, in the shape a create carries
    /// (so match before create compares another form with it too).
    pub async fn save_job_draft(&self, draft: JobDraft) -> Result<(), AppError> {
        parse_action_id(Some(&draft.action_id))?;
        let values = json!({
            "schedule": {
                "customer_id": draft.customer_id,
                "site": draft.site,
                "window_start": draft.window_start,
                "window_end": draft.window_end,
                "assignee": draft.assignee,
            },
            "description": {"summary": draft.summary},
        });
        let now = self.active()?.now();
        self.active()?
            .cache()
            .save_draft(&draft.action_id, RecordType::Job, &values, now)
            .await?;
        Ok(())
    }

    /// The person throws the form away: the draft stays on the device, no longer offered.
    pub async fn discard_job_draft(&self, args: DraftArgs) -> Result<(), AppError> {
        parse_action_id(Some(&args.action_id))?;
        self.active()?
            .cache()
            .close_draft(&args.action_id, "discarded")
            .await?;
        Ok(())
    }

    /// Before a reassignment: who owns the job now, and a warning when their device has unsynced
    /// work or has not been seen for a while.
    pub async fn reassign_check(&self, job_id: String) -> Result<ReassignCheck, AppError> {
        let id = parse_id(&job_id)?;
        self.refresh_devices().await;
        let view = self
            .active()?
            .record(id)
            .await?
            .ok_or_else(|| AppError::new("not_found", "this job is not on this device"))?;
        let owner = self.owner_view(&view.record.owner);
        let warning = self.device_warning(&owner);
        let candidates = self
            .technicians()
            .into_iter()
            .filter(|t| t.name != owner.name)
            .collect();
        let teams = self
            .teams()
            .into_iter()
            .filter(|t| view.record.owner != Owner::Team(t.name.clone()))
            .collect();
        Ok(ReassignCheck {
            owner_epoch: view.record.owner_epoch,
            current_owner: owner,
            warning,
            candidates,
            teams,
        })
    }

    /// The warning about an owner's device, in the one sentence the reassign dialog and the
    /// schedule board both show ("Tom's tablet: 4 changes not yet synced, last seen 3 h ago"):
    /// when it holds unsynced work, has been quiet for more than half an hour, or was never
    /// seen. None for a healthy device, and for a team (its people each have their own).
    pub(crate) fn device_warning(&self, owner: &OwnerView) -> Option<String> {
        if owner.kind != "user" {
            return None;
        }
        let now = self.now();
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
            if now - seen > chrono::Duration::minutes(QUIET_MINUTES) || !parts.is_empty() {
                parts.push(format!("last seen {}", ago(seen, now)));
            }
        } else {
            parts.push("never seen by the server".into());
        }
        if parts.is_empty() {
            return None;
        }
        Some(format!(
            "{}: {}",
            owner
                .device
                .clone()
                .unwrap_or_else(|| format!("{}'s device", owner.display_name)),
            parts.join(", ")
        ))
    }

    /// The teams a job can be given to: the technicians' teams, each as an owner whose device
    /// health is its people's (the changes waiting on all their devices, the newest sighting),
    /// so "North team" in a list says as much as a person's name does.
    pub(crate) fn teams(&self) -> Vec<OwnerView> {
        let people = self.technicians();
        let mut names: Vec<String> = people.iter().filter_map(|p| p.team.clone()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|team| {
                let members: Vec<&OwnerView> = people
                    .iter()
                    .filter(|p| p.team.as_deref() == Some(team.as_str()))
                    .collect();
                let mut view = self.owner_view(&Owner::Team(team.clone()));
                view.device = Some(format!(
                    "{} technician{}",
                    members.len(),
                    if members.len() == 1 { "" } else { "s" }
                ));
                view.last_seen = members.iter().filter_map(|p| p.last_seen.clone()).max();
                view.unsynced = Some(members.iter().filter_map(|p| p.unsynced).sum());
                view
            })
            .collect()
    }

    /// The technicians a job can be given to, each with their device's health (unsynced
    /// changes, last seen), for the new-job form and the reassign dialog: people, not a user
    /// name typed from memory. They are the technicians the office's device list knows.
    pub(crate) fn technicians(&self) -> Vec<OwnerView> {
        let devices = self
            .devices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut names: Vec<String> = devices
            .iter()
            .filter(|d| d.role == Role::Technician)
            .map(|d| d.user.clone())
            .collect();
        names.sort();
        names.dedup();
        let mut people: Vec<OwnerView> = names
            .iter()
            .map(|n| self.owner_view(&Owner::User(n.clone())))
            .collect();
        people.sort_by(|a, b| (&a.team, &a.display_name).cmp(&(&b.team, &b.display_name)));
        people
    }

    /// The new-job form's "Assign to": the technicians with their devices' health, then the
    /// teams (`kind` `team`) a job can wait with for anyone in them to take.
    pub async fn assignees(&self) -> Result<Vec<OwnerView>, AppError> {
        self.active()?;
        if self.technicians().is_empty() && self.refresh_devices().await {
            self.devices_changed();
        }
        let mut people = self.technicians();
        people.extend(self.teams());
        Ok(people)
    }

    pub async fn reassign(&self, args: ReassignArgs) -> Result<Reassigned, AppError> {
        let id = parse_id(&args.job_id)?;
        let reason = args.reason.trim();
        if reason.is_empty() {
            return Err(AppError::new(
                "invalid",
                "Say why the job moves: the reason stays in its timeline.",
            ));
        }
        let to = match (args.to_user.trim(), args.to_team.as_deref().map(str::trim)) {
            ("", Some(team)) if !team.is_empty() => Owner::Team(team.to_string()),
            (user, None | Some("")) if !user.is_empty() => Owner::User(user.to_string()),
            ("", _) => {
                return Err(AppError::new(
                    "invalid",
                    "Choose who the job goes to: a technician or a team.",
                ));
            }
            _ => {
                return Err(AppError::new(
                    "invalid",
                    "A job goes to one technician or one team, not both.",
                ));
            }
        };
        let request = ReassignRequest {
            owner: to,
            owner_epoch: args.owner_epoch,
            reason: Some(reason.to_string()),
        };
        let done = self
            .active()?
            .reassign(RecordType::Job, id, &request)
            .await?;
        let _ = self.active()?.sync_now().await;
        let view = self
            .active()?
            .record(id)
            .await?
            .ok_or_else(|| AppError::new("not_found", "this job is not on this device"))?;
        let (to_user, to_team) = match &done.moved.from {
            Owner::User(name) => (name.clone(), None),
            Owner::Team(team) => (String::new(), Some(team.clone())),
        };
        let undo = Some(ReassignArgs {
            job_id: args.job_id.clone(),
            to_user,
            to_team,
            owner_epoch: Some(done.moved.owner_epoch),
            reason: format!("undo of the reassignment ({reason})"),
        });
        Ok(Reassigned {
            card: self.card(&view).await,
            from: self.owner_view(&done.moved.from),
            to: self.owner_view(&done.moved.to),
            undo,
        })
    }
}
