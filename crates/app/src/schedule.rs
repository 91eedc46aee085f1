//! The schedule board: the technicians (grouped by team) down the side with their devices'
//! health, the day or week along the top with every job at its window, and the tray of work
//! that has no technician or no time yet; and rescheduling a job from it. Moving a job to
//! another person or team is [`App::reassign`] (the board's page, after the same warning as the
//! reassign dialog); moving it in time is [`App::reschedule`], an edit of its schedule group
//! through `edit` made on the version the board showed. It leans on the board page (`board`)
//! for the job cards, the technicians and the device warning.

use chrono::{DateTime, Utc};
use fieldsync_core::{Group, Owner, RecordType, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ts_rs::TS;

use crate::edit::SaveGroupArgs;
use crate::ids::parse_id;
use crate::views::{text, JobCard, OwnerView};
use crate::{App, AppError};

/// The stretch of time the board shows: a day or a week, from the person's local midnight, as
/// UTC instants (the UI makes them from the local calendar, so "Tuesday" is the person's
/// Tuesday wherever the server is).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ScheduleArgs {
    /// RFC 3339; the first instant shown.
    pub from: String,
    /// RFC 3339; the first instant no longer shown.
    pub to: String,
}

/// A technician's row: who, and how their device is.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TechnicianRow {
    pub person: OwnerView,
    /// `ok` (seen lately, nothing waiting), `warn` (unsynced work or quiet for a while) or
    /// `unknown` (no device has ever synced).
    pub health: String,
    /// The reassign dialog's warning about this person's device, when there is one ("Kai's
    /// tablet: 4 changes not yet synced, last seen 3 h ago").
    pub warning: Option<String>,
}

/// A team: a row a job can be dropped on (to give it to the team), over its technicians' rows.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TeamLane {
    /// The team as an owner, its devices summed up (see [`App::reassign_check`]'s teams).
    pub team: OwnerView,
    pub technicians: Vec<TechnicianRow>,
}

/// A job on the board: its card, where it sits in time, and what a move of it is made on.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ScheduledJob {
    pub card: JobCard,
    /// RFC 3339 (UTC); none for a job with no time yet.
    pub window_start: Option<String>,
    /// RFC 3339 (UTC); none when only the start is known (the board draws an hour).
    pub window_end: Option<String>,
    /// The schedule group's version as this board shows it: a reschedule sends it back, so a
    /// board that missed someone else's move is refused instead of overwriting it.
    #[ts(type = "number")]
    pub schedule_version: i64,
    /// The ownership epoch as this board shows it: a reassignment from the board sends the one
    /// its warning was about (see [`crate::board::ReassignCheck`]).
    #[ts(type = "number")]
    pub owner_epoch: i64,
    /// Whether a dispatcher may move it now (an open job; closed, voided and archived ones stay
    /// where they are).
    pub movable: bool,
    /// Why it is in the tray, in a dispatcher's words ("No technician yet: North team"), for
    /// the tray's jobs only.
    pub tray_reason: Option<String>,
    /// Begun on the technician's device (in progress, or paused part-way): giving it away
    /// takes it off that device mid-work, which the Move dialog says first.
    pub started: bool,
}

/// The board for one day or week.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ScheduleView {
    pub from: String,
    pub to: String,
    /// The app's time now (RFC 3339), for the now-line.
    pub now: String,
    /// Teams with their technicians, by team name; technicians with no team come last under a
    /// lane whose team name is empty.
    pub teams: Vec<TeamLane>,
    /// Every job of a technician whose window falls in the shown stretch.
    pub jobs: Vec<ScheduledJob>,
    /// Open work with no technician (a team's, or nobody's yet), due in the shown stretch,
    /// overdue or with no time; and a technician's open jobs with no time yet.
    pub tray: Vec<ScheduledJob>,
    /// Whether this person may move jobs (a dispatcher).
    pub can_move: bool,
}

/// A job moved in time on the board: it keeps its owner.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RescheduleArgs {
    pub job_id: String,
    /// RFC 3339; the new window's start.
    pub window_start: String,
    /// RFC 3339; the new window's end, after the start.
    pub window_end: String,
    /// The [`ScheduledJob::schedule_version`] the board showed when the drag (or the Move
    /// dialog) began.
    #[ts(type = "number")]
    pub base_version: i64,
    /// Made when the move began (`new_action_id`): sent twice, it is one change.
    pub action_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Rescheduled {
    pub job: ScheduledJob,
    /// The change's sync state in words ("Synced", "Saved on this device").
    pub state_label: String,
    /// The notice's "Undo": the window it had, on the schedule version this move made, so an
    /// undo after someone else moved the job again is refused with `changed_since_seen`
    /// instead of undoing their move. None when the job had no whole window before (there is
    /// no time to go back to).
    pub undo: Option<RescheduleArgs>,
}

fn instant(s: &str, what: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            AppError::new(
                "invalid",
                format!("the {what} must be a date and time, not “{s}”"),
            )
        })
}

fn parse_time(v: Option<&str>) -> Option<DateTime<Utc>> {
    v.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl App {
    /// The schedule board for `[from, to)`.
    pub async fn schedule(&self, args: ScheduleArgs) -> Result<ScheduleView, AppError> {
        let from = instant(&args.from, "start of the board")?;
        let to = instant(&args.to, "end of the board")?;
        if to <= from || to - from > chrono::Duration::days(42) {
            return Err(AppError::new(
                "invalid",
                "the board shows a day or a week: its end comes after its start, within six weeks",
            ));
        }
        self.active()?;
        // The rows' health is read fresh from the device list each time, the way the Move
        // dialog's check reads it, so the row behind the dialog and the dialog never say two
        // different "last seen" for one device. With the server down the last list stands.
        if self.refresh_devices().await {
            self.devices_changed();
        }
        // Every job from the board's index (its cards and, beside each, its window, versions
        // and owner): no read of the cache's records here, so the day of a 5,000-job office is
        // made in a few milliseconds.
        let index = self.board_index().await?;
        let can_move = self.role().is_some_and(fieldsync_core::model::may_reassign);

        let mut technicians = self.technicians();
        let mut jobs = Vec::new();
        let mut tray = Vec::new();
        for (card, slot) in index.cards.iter().zip(index.slots.iter()) {
            let start = parse_time(slot.window_start.as_deref());
            let end = parse_time(slot.window_end.as_deref())
                .filter(|e| start.is_some_and(|s| *e > s))
                .or_else(|| start.map(|s| s + chrono::Duration::hours(1)));
            let open = card.state.is_open();
            let in_range = matches!((start, end), (Some(s), Some(e)) if s < to && e > from);
            // Only the jobs this board shows are copied.
            let shown = match &slot.owner {
                Owner::Team(_) => {
                    let overdue = end.is_some_and(|e| e <= from);
                    (open && (start.is_none() || in_range || overdue)).then(|| {
                        let who = self.owner_view(&slot.owner).display_name;
                        Some(if overdue {
                            format!("Overdue, no technician yet: {who}")
                        } else {
                            format!("No technician yet: {who}")
                        })
                    })
                }
                Owner::User(_) if start.is_none() => {
                    open.then(|| Some(format!("No time yet: {}", card.owner.display_name)))
                }
                Owner::User(_) => in_range.then_some(None),
            };
            let Some(tray_reason) = shown else {
                continue;
            };
            let job = ScheduledJob {
                window_start: slot.window_start.clone(),
                window_end: slot.window_end.clone(),
                schedule_version: slot.schedule_version,
                owner_epoch: slot.owner_epoch,
                movable: open && !slot.read_only,
                tray_reason,
                started: matches!(card.state, State::InProgress | State::Paused),
                card: card.clone(),
            };
            if job.tray_reason.is_some() {
                tray.push(job);
                continue;
            }
            if let Owner::User(name) = &slot.owner {
                // A job of someone the device list does not know (no device yet, or not a
                // technician) still gets a row: no job on the shown day goes unseen.
                if !technicians.iter().any(|t| &t.name == name) {
                    technicians.push(self.owner_view(&slot.owner));
                }
            }
            jobs.push(job);
        }
        jobs.sort_by(|a, b| a.window_start.cmp(&b.window_start));
        tray.sort_by(|a, b| {
            (a.window_start.is_none(), &a.window_start, &a.card.number).cmp(&(
                b.window_start.is_none(),
                &b.window_start,
                &b.card.number,
            ))
        });

        let mut lanes: Vec<TeamLane> = self
            .teams()
            .into_iter()
            .map(|team| TeamLane {
                team,
                technicians: Vec::new(),
            })
            .collect();
        for person in technicians {
            let warning = self.device_warning(&person);
            let health = match (&person.device, &warning) {
                (None, _) => "unknown",
                (Some(_), Some(_)) => "warn",
                (Some(_), None) => "ok",
            };
            let row = TechnicianRow {
                person,
                health: health.into(),
                warning,
            };
            let team = row.person.team.clone().unwrap_or_default();
            match lanes.iter_mut().find(|l| l.team.name == team) {
                Some(lane) => lane.technicians.push(row),
                None => {
                    let mut lane = TeamLane {
                        team: self.owner_view(&Owner::Team(team.clone())),
                        technicians: vec![row],
                    };
                    if team.is_empty() {
                        lane.team.display_name = "No team".into();
                    }
                    lanes.push(lane);
                }
            }
        }
        // Teams by name, the technicians with no team last.
        lanes.sort_by(|a, b| {
            (a.team.name.is_empty(), &a.team.name).cmp(&(b.team.name.is_empty(), &b.team.name))
        });
        for lane in &mut lanes {
            lane.technicians
                .sort_by(|a, b| a.person.display_name.cmp(&b.person.display_name));
        }
        Ok(ScheduleView {
            from: args.from,
            to: args.to,
            now: self
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            teams: lanes,
            jobs,
            tray,
            can_move,
        })
    }

    /// Moves a job in time; it keeps its owner. Made on the schedule version the board showed:
    /// the device first catches up with the server (when it can), and a job whose schedule
    /// changed since the board read it (someone rescheduled or reassigned it) is refused with
    /// `changed_since_seen`, so the dispatcher looks at the new picture instead of overwriting
    /// it unseen. The edit itself is the one path every group edit takes ([`App::save_group`]):
    /// the outbox first, so it holds with the server down.
    pub async fn reschedule(&self, args: RescheduleArgs) -> Result<Rescheduled, AppError> {
        let id = parse_id(&args.job_id)?;
        let start = instant(&args.window_start, "window's start")?;
        let end = instant(&args.window_end, "window's end")?;
        if end <= start {
            return Err(AppError::new(
                "invalid_change",
                "The window's end must come after its start.",
            ));
        }
        let client = self.active()?;
        // Best effort: with the server down the board's picture is checked against this
        // device's, and the move waits in the outbox like any edit.
        let _ = client.sync_now().await;
        let view = client
            .record(id)
            .await?
            .ok_or_else(|| AppError::new("not_found", "this job is not on this device"))?;
        let label = view
            .record
            .number
            .clone()
            .unwrap_or_else(|| "This job".into());
        let state = crate::views::shown_state(&view);
        if !state.is_open() {
            return Err(AppError::new(
                "record_locked",
                format!("{label} is {}: its time cannot move.", state.words()),
            ));
        }
        let current = view.bases.get(&Group::Schedule).copied().unwrap_or(0);
        let before = view
            .values
            .get(&Group::Schedule)
            .cloned()
            .unwrap_or(json!({}));
        let before = (
            text(&before, "window_start").filter(|s| !s.is_empty()),
            text(&before, "window_end").filter(|s| !s.is_empty()),
        );
        if args.base_version != current {
            return Err(AppError::new(
                "changed_since_seen",
                format!(
                    "{label} was rescheduled or reassigned since this board showed it. The board shows where it is now; move it again if it should still go."
                ),
            ));
        }
        self.save_group(SaveGroupArgs {
            record_type: RecordType::Job.as_str().into(),
            record_id: args.job_id.clone(),
            group: Group::Schedule.as_str().into(),
            values: json!({
                "window_start": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "window_end": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
            action_id: args.action_id,
            base_version: Some(args.base_version),
        })
        .await?;
        // The move goes now when the server is there, so the technician's device hears of it
        // at once; the answer's sync state says whether it did.
        let _ = client.sync_now().await;
        let view = client
            .record(id)
            .await?
            .ok_or_else(|| AppError::new("not_found", "this job is not on this device"))?;
        let schedule = view
            .values
            .get(&Group::Schedule)
            .cloned()
            .unwrap_or(json!({}));
        let made = view.bases.get(&Group::Schedule).copied().unwrap_or(0);
        let undo = match before {
            (Some(window_start), Some(window_end)) => Some(RescheduleArgs {
                job_id: args.job_id.clone(),
                window_start,
                window_end,
                base_version: made,
                action_id: None,
            }),
            _ => None,
        };
        Ok(Rescheduled {
            undo,
            state_label: view.state.label(self.now()),
            job: ScheduledJob {
                window_start: text(&schedule, "window_start"),
                window_end: text(&schedule, "window_end"),
                schedule_version: made,
                owner_epoch: view.record.owner_epoch,
                movable: true,
                tray_reason: None,
                started: matches!(
                    crate::views::shown_state(&view),
                    State::InProgress | State::Paused
                ),
                card: self.card(&view).await,
            },
        })
    }
}
