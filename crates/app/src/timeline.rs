//! A record's change log as sentences people read: "Dana Reyes moved the window to Tue 3 Dec
//! 09:00–11:00", "Olivia Chen changed the phone from +44 20 7946 0102 to +44 20 7946 0999",
//! "Status went to review: Tom's tablet and Sam Okafor both changed it". Used by the job page and
//! the customer page.
//!
//! The server's log (`GET .../history`) is read oldest first, keeping each group's values as they
//! stood, so every entry names only the fields it changed and the value they had before: under
//! last write wins the overwritten value is gone from the record but stays readable here. Names
//! are people's display names and devices' names (from the office's device list), never user
//! names or ids. Times inside a sentence travel as instants ([`Piece::Time`], [`Piece::Window`])
//! for the screen to show in the person's own zone; [`TimelineEntry::text`] is the same sentence
//! with those times in UTC, for tests and logs.
//!
//! The last history read of each record is kept in the cache, so a page opened without the
//! server still shows the story as last read, with this device's own unsent changes after it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use fieldsync_client::OutboxState;
use fieldsync_core::model::merge_values;
use fieldsync_core::wire::{HistoryEntry, LogKind, RecordHistory};
use fieldsync_core::{Group, Op, OutcomeStatus, RecordId, RecordType, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::views::{field_words, text};
use crate::{App, AppError};

/// What an entry of a timeline was: a word of the timeline, not a lifecycle state (its `Voided`
/// is the void that was logged, whatever state the record is in now).
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

/// One piece of a timeline sentence: words, or a time the screen shows in the person's zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum Piece {
    Text {
        text: String,
    },
    /// An instant (RFC 3339): a day and a time of day.
    Time {
        at: String,
    },
    /// A job's window (RFC 3339 instants): one day and a time range.
    Window {
        start: String,
        end: Option<String>,
    },
}

/// One field an entry changed, with what it was and what it became, for the details view.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ChangedField {
    pub field: String,
    pub label: String,
    #[ts(type = "unknown")]
    pub before: Value,
    #[ts(type = "unknown")]
    pub after: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: String,
    /// The person, by their display name ("Tom Baker").
    pub who: String,
    /// Their user name, for the details view.
    pub user: String,
    /// The device's name ("Tom's tablet"), when the office knows it.
    pub device: Option<String>,
    pub kind: TimelineKind,
    /// The field group's wire name, for the details view only.
    pub group: Option<String>,
    /// The group's version this entry made, for the details view only.
    #[ts(type = "number | null")]
    pub version: Option<i64>,
    /// The sentence, with its times as instants.
    pub pieces: Vec<Piece>,
    /// The same sentence as plain text, its times in UTC.
    pub text: String,
    /// Only the fields this entry changed, each with its value before.
    pub changes: Vec<ChangedField>,
}

/// Who and what a log names, in people's words: display names by user name and device names by
/// device id, from the office's device list (empty for a role that does not see it: the user
/// names are shown then).
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    people: HashMap<String, String>,
    devices: HashMap<String, String>,
    /// Customers' names by record id, for a job's "changed the customer to …".
    customers: HashMap<String, String>,
}

impl Names {
    pub(crate) fn person(&self, user: &str) -> String {
        self.people
            .get(user)
            .cloned()
            .unwrap_or_else(|| user.to_string())
    }

    fn device(&self, id: &str) -> Option<String> {
        self.devices.get(id).cloned()
    }
}

impl App {
    /// The names the timelines use, as this device knows them now.
    pub(crate) async fn names(&self) -> Names {
        if self
            .devices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
        {
            self.refresh_devices().await;
        }
        let mut names = Names::default();
        for d in self
            .devices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            names.people.insert(d.user.clone(), d.display_name.clone());
            names
                .devices
                .insert(d.device_id.to_string(), d.name.clone());
        }
        if let Some(me) = self.client().and_then(|c| c.user()) {
            names
                .people
                .insert(me.name.clone(), me.display_name.clone());
        }
        if let Ok(client) = self.active() {
            for c in client
                .records(RecordType::Customer)
                .await
                .unwrap_or_default()
            {
                if let Some(name) = c.values.get(&Group::Profile).and_then(|p| text(p, "name")) {
                    names.customers.insert(c.record.record_id.to_string(), name);
                }
            }
        }
        names
    }

    /// A record's change log: the server's when it answers (kept in the cache for later), else
    /// the one last read with this device's own unsent changes after it. The flag says whether
    /// the server answered.
    pub(crate) async fn record_log(
        &self,
        record_type: RecordType,
        id: RecordId,
    ) -> Result<(Vec<HistoryEntry>, bool), AppError> {
        let client = self.active()?;
        let key = format!("history:{id}");
        match client.history(record_type, id).await {
            Ok(history) => {
                if let Ok(saved) = serde_json::to_string(&history) {
                    let _ = client.cache().set_meta(&key, &saved).await;
                }
                Ok((history.entries, true))
            }
            Err(_) => {
                let kept: Option<RecordHistory> = client
                    .cache()
                    .meta(&key)
                    .await?
                    .and_then(|s| serde_json::from_str(&s).ok());
                Ok((kept.map(|h| h.entries).unwrap_or_default(), false))
            }
        }
    }

    /// A record's timeline, newest first: the log as sentences, then (without the server) this
    /// device's own changes the log does not have yet.
    pub(crate) async fn timeline(
        &self,
        record_type: RecordType,
        id: RecordId,
        names: &Names,
    ) -> Result<(Vec<TimelineEntry>, bool), AppError> {
        let (entries, from_server) = self.record_log(record_type, id).await?;
        let mut story = Story::new(record_type, names);
        let mut out: Vec<TimelineEntry> = entries.iter().map(|e| story.tell(e)).collect();
        let client = self.active()?;
        let logged: std::collections::HashSet<_> = entries.iter().map(|e| e.change_id).collect();
        let me = client.user();
        for row in client.cache().outbox_for(id).await? {
            if logged.contains(&row.change.change_id) {
                continue;
            }
            let kind = match row.state {
                OutboxState::Pending => TimelineKind::Pending,
                OutboxState::Held => TimelineKind::Held,
                OutboxState::Rejected => TimelineKind::Rejected,
                // Synced but not in the log read: the log is older than it.
                OutboxState::Synced => TimelineKind::Applied,
            };
            let entry = HistoryEntry {
                seq: row.position,
                change_id: row.change.change_id,
                kind: LogKind::Change,
                record_type: row.change.record_type,
                record_id: row.change.record_id,
                group: row.change.group,
                op: row.change.op,
                base_version: row.change.base_version,
                values: row.change.values.clone(),
                author: me.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
                device_id: None,
                device_time: row.change.device_time,
                server_time: row.saved_at,
                outcome: row.outcome.clone().unwrap_or(fieldsync_core::Outcome {
                    change_id: row.change.change_id,
                    status: OutcomeStatus::Applied,
                    version: None,
                    seq: None,
                    number: None,
                    review_id: None,
                    code: row.code.clone(),
                    message: row.reason.clone(),
                    flags: Vec::new(),
                    replayed: false,
                }),
            };
            let mut told = story.tell(&entry);
            told.kind = kind;
            told.device = Some("this device".into());
            if kind == TimelineKind::Pending {
                told.pieces.push(Piece::Text {
                    text: " (saved on this device, not yet sent)".into(),
                });
                told.text.push_str(" (saved on this device, not yet sent)");
            }
            out.push(told);
        }
        out.reverse();
        Ok((out, from_server))
    }
}

/// Tells a log's entries one by one, oldest first, remembering each group as it stood.
pub(crate) struct Story<'a> {
    record_type: RecordType,
    names: &'a Names,
    groups: BTreeMap<Group, Value>,
    /// Who last changed each group (user, device id): the other side of a collision.
    last: BTreeMap<Group, (String, Option<String>)>,
    state: Option<State>,
}

/// A sentence being written: its pieces and its plain text.
#[derive(Default)]
struct Sentence {
    pieces: Vec<Piece>,
}

impl Sentence {
    fn say(&mut self, words: impl Into<String>) -> &mut Sentence {
        let words = words.into();
        if let Some(Piece::Text { text }) = self.pieces.last_mut() {
            text.push_str(&words);
        } else if !words.is_empty() {
            self.pieces.push(Piece::Text { text: words });
        }
        self
    }

    fn piece(&mut self, piece: Piece) -> &mut Sentence {
        self.pieces.push(piece);
        self
    }

    fn value(&mut self, v: &Value) -> &mut Sentence {
        match v {
            Value::String(s) if is_time(s) => self.piece(Piece::Time { at: s.clone() }),
            other => self.say(shown(other)),
        }
    }

    fn plain(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text { text } => text.clone(),
                Piece::Time { at } => utc_time(at),
                Piece::Window { start, end } => utc_window(start, end.as_deref()),
            })
            .collect()
    }
}

impl<'a> Story<'a> {
    pub(crate) fn new(record_type: RecordType, names: &'a Names) -> Story<'a> {
        Story {
            record_type,
            names,
            groups: BTreeMap::new(),
            last: BTreeMap::new(),
            state: None,
        }
    }

    fn noun(&self) -> &'static str {
        match self.record_type {
            RecordType::Job => "the job",
            RecordType::Customer => "the customer",
            RecordType::Invoice => "the invoice",
            RecordType::JobNote => "a note",
            RecordType::PartLine => "a part line",
            RecordType::Photo => "a photo",
            RecordType::Inspection => "an inspection",
            RecordType::Activity => "an entry",
        }
    }

    /// One entry as a sentence; the groups as they stand after it.
    pub(crate) fn tell(&mut self, e: &HistoryEntry) -> TimelineEntry {
        let who = self.names.person(&e.author);
        let device = e.device_id.map(|d| d.to_string());
        let device_name = device.as_deref().and_then(|d| self.names.device(d));
        let kind = match (e.kind, e.outcome.status, e.op) {
            (LogKind::Resolution, _, _) => TimelineKind::Resolved,
            (LogKind::Reassign, _, _) => TimelineKind::Reassigned,
            (LogKind::Reopen, _, _) => TimelineKind::Reopened,
            (_, OutcomeStatus::Held, _) => TimelineKind::Held,
            (_, OutcomeStatus::Rejected, _) => TimelineKind::Rejected,
            (_, _, Op::Create) => TimelineKind::Created,
            (_, _, Op::Void) => TimelineKind::Voided,
            _ => TimelineKind::Applied,
        };
        let mut s = Sentence::default();
        let mut changes = Vec::new();
        let group_label = e.group.map(group_words).unwrap_or("record");
        match kind {
            TimelineKind::Created => {
                let first = |g: Group, k: &str| {
                    e.values
                        .get(g.as_str())
                        .map(|v| v.get(k).cloned().unwrap_or(Value::Null))
                        .unwrap_or(Value::Null)
                };
                match self.record_type {
                    RecordType::JobNote => {
                        s.say(format!(
                            "{who} added a note: {}",
                            shown(&first(Group::Text, "text"))
                        ));
                    }
                    RecordType::PartLine => {
                        s.say(format!(
                            "{who} added part {} ×{}",
                            shown(&first(Group::Line, "part_number")),
                            shown(&first(Group::Line, "quantity"))
                        ));
                    }
                    RecordType::Photo => {
                        s.say(format!("{who} added a photo"));
                        if let Some(caption) = first(Group::File, "caption").as_str() {
                            s.say(format!(": {caption}"));
                        }
                    }
                    _ => {
                        s.say(format!("{who} created {}", self.noun()));
                    }
                }
                if let Some(groups) = e.values.as_object() {
                    for (name, values) in groups {
                        if let Some(g) = Group::parse(name) {
                            self.groups.insert(g, values.clone());
                            self.last.insert(g, (e.author.clone(), device.clone()));
                            if g == Group::Status {
                                self.state = text(values, "state").and_then(|s| State::parse(&s));
                            }
                        }
                    }
                }
                if self.state.is_none() {
                    self.state = Some(self.record_type.initial_state());
                }
            }
            TimelineKind::Reassigned => {
                let to = text(&e.values, "assignee")
                    .map(|u| self.names.person(&u))
                    .unwrap_or_else(|| "a team".into());
                s.say(format!("{who} reassigned {} to {to}", self.noun()));
                if let Some(reason) = &e.outcome.message {
                    s.say(format!(": {reason}"));
                }
                self.apply(e, &device);
            }
            TimelineKind::Reopened => {
                // The reason is kept with the visit the reopen closed (the last one).
                let reason = e.values["visits"]
                    .as_array()
                    .and_then(|v| v.last())
                    .and_then(|v| text(v, "reason"));
                s.say(format!("{who} reopened {} for a new visit", self.noun()));
                if let Some(reason) = reason {
                    s.say(format!(": {reason}"));
                }
                self.apply(e, &device);
                self.state = Some(State::Reopened);
            }
            TimelineKind::Voided => {
                let archived = text(&e.values, "state").and_then(|s| State::parse(&s))
                    == Some(State::Archived);
                let verb = if archived {
                    State::Archived.as_str()
                } else {
                    State::Voided.as_str()
                };
                s.say(format!("{who} {verb} {}", self.noun()));
                if let Some(reason) = text(&e.values, "reason").filter(|r| !r.is_empty()) {
                    s.say(format!(": {reason}"));
                }
                self.state = Some(if archived {
                    State::Archived
                } else {
                    State::Voided
                });
                self.apply(e, &device);
            }
            TimelineKind::Held => {
                let other = e
                    .group
                    .and_then(|g| self.last.get(&g))
                    .filter(|(user, _)| *user != e.author)
                    .map(|(user, _)| self.names.person(user));
                let from = device_name.clone().unwrap_or_else(|| who.clone());
                match (e.op, other) {
                    (Op::Void, _) => {
                        s.say(format!("{who}'s void went to review"));
                        if let Some(m) = &e.outcome.message {
                            s.say(format!(": {m}"));
                        }
                    }
                    (_, Some(other)) => {
                        s.say(format!(
                            "{} went to review: {from} and {other} both changed it",
                            capital(group_label)
                        ));
                        changes = self.diff(e.group, &e.values);
                        if !changes.is_empty() {
                            s.say(format!(" ({who} wanted "));
                            self.clauses(&mut s, &changes, Wanted);
                            s.say(")");
                        }
                    }
                    (_, None) => {
                        s.say(format!(
                            "{who}'s change of the {group_label} went to review"
                        ));
                        if let Some(m) = &e.outcome.message {
                            s.say(format!(": {m}"));
                        }
                    }
                }
            }
            TimelineKind::Rejected | TimelineKind::Pending => {
                s.say(format!("{who}'s change of the {group_label} was refused"));
                if let Some(m) = &e.outcome.message {
                    s.say(format!(": {m}"));
                }
            }
            TimelineKind::Resolved => {
                changes = self.diff(e.group, &e.values);
                s.say(format!("{who} resolved the review of the {group_label}"));
                if changes.is_empty() {
                    s.say(": kept it as it was");
                } else {
                    s.say(": ");
                    self.clauses(&mut s, &changes, Done);
                }
                self.apply(e, &device);
            }
            TimelineKind::Applied => {
                changes = self.diff(e.group, &e.values);
                s.say(format!("{who} "));
                if e.group == Some(Group::Status) {
                    let to = text(&e.values, "state").and_then(|s| State::parse(&s));
                    s.say(status_words(self.record_type, self.state, to, self.noun()));
                    if let Some(reason) = text(&e.values, "reason").filter(|r| !r.is_empty()) {
                        s.say(format!(": {reason}"));
                    }
                    if let Some(to) = to {
                        self.state = Some(to);
                    }
                } else if changes.is_empty() {
                    s.say(format!("saved the {group_label} unchanged"));
                } else {
                    self.clauses(&mut s, &changes, Done);
                }
                self.apply(e, &device);
            }
        }
        let text = s.plain();
        TimelineEntry {
            seq: e.seq,
            at: e.server_time.to_rfc3339_opts(SecondsFormat::Millis, true),
            who,
            user: e.author.clone(),
            device: device_name,
            kind,
            group: e.group.map(|g| g.as_str().into()),
            version: e.outcome.version,
            pieces: s.pieces,
            text,
            changes,
        }
    }

    /// Lays an applied entry's values over its group.
    fn apply(&mut self, e: &HistoryEntry, device: &Option<String>) {
        if let Some(g) = e.group {
            let now = self.groups.get(&g).cloned().unwrap_or(Value::Null);
            self.groups.insert(g, merge_values(&now, &e.values));
            self.last.insert(g, (e.author.clone(), device.clone()));
        }
    }

    /// The fields `values` would change in `group`, in the group's own order, each with its
    /// value before. Bookkeeping (a reopen's visits, a reason) is not a field a person changed.
    fn diff(&self, group: Option<Group>, values: &Value) -> Vec<ChangedField> {
        let Some(group) = group else {
            return Vec::new();
        };
        let before = self.groups.get(&group).cloned().unwrap_or(Value::Null);
        let after = merge_values(&before, values);
        let order: Vec<&str> = fieldsync_core::model::fields(self.record_type, group)
            .iter()
            .map(|(n, _, _)| *n)
            .collect();
        let mut keys: Vec<String> = values
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        keys.retain(|k| !matches!(k.as_str(), "visits" | "previous_state" | "reason"));
        keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(order.len()));
        keys.into_iter()
            .filter_map(|k| {
                let b = before.get(&k).cloned().unwrap_or(Value::Null);
                let a = after.get(&k).cloned().unwrap_or(Value::Null);
                (!same(&b, &a)).then(|| ChangedField {
                    label: field_words(&k),
                    field: k,
                    before: b,
                    after: a,
                })
            })
            .collect()
    }

    /// The changes as clauses: "moved the window to …", "changed the phone from A to B and
    /// set the email to C".
    fn clauses(&self, s: &mut Sentence, changes: &[ChangedField], mood: Mood) {
        let window = changes
            .iter()
            .any(|c| c.field == "window_start" || c.field == "window_end");
        let mut told: Vec<&ChangedField> = changes
            .iter()
            .filter(|c| !(window && (c.field == "window_start" || c.field == "window_end")))
            .collect();
        let mut count = told.len() + usize::from(window);
        let mut first = true;
        let mut sep = |s: &mut Sentence, count: &mut usize| {
            if !first {
                s.say(if *count == 1 { " and " } else { ", " });
            }
            first = false;
            *count -= 1;
        };
        if window {
            sep(s, &mut count);
            let schedule = self
                .groups
                .get(&Group::Schedule)
                .cloned()
                .unwrap_or_default();
            let pick = |field: &str| {
                changes
                    .iter()
                    .find(|c| c.field == field)
                    .map(|c| c.after.clone())
                    .or_else(|| schedule.get(field).cloned())
                    .and_then(|v| v.as_str().map(str::to_string))
            };
            match pick("window_start") {
                Some(start) => {
                    s.say(match mood {
                        Done => "moved the window to ",
                        Wanted => "the window at ",
                    });
                    s.piece(Piece::Window {
                        start,
                        end: pick("window_end"),
                    });
                }
                None => {
                    s.say(match mood {
                        Done => "cleared the window",
                        Wanted => "no window",
                    });
                }
            }
        }
        told.sort_by_key(|c| c.field == "assignee");
        for c in told {
            sep(s, &mut count);
            let label = &c.label;
            if c.field == "customer_id" {
                let name = c
                    .after
                    .as_str()
                    .and_then(|id| self.names.customers.get(id).cloned())
                    .unwrap_or_else(|| "another customer".into());
                s.say(match mood {
                    Done => format!("moved it to the customer {name}"),
                    Wanted => format!("the customer {name}"),
                });
                continue;
            }
            if c.field == "assignee" {
                let to = c.after.as_str().map(|u| self.names.person(u));
                s.say(match (mood, to) {
                    (Done, Some(to)) => format!("assigned it to {to}"),
                    (Wanted, Some(to)) => format!("it assigned to {to}"),
                    (_, None) => "left it unassigned".into(),
                });
                continue;
            }
            if c.field == "state" {
                let to = shown(&c.after);
                s.say(match mood {
                    Done => format!("moved it to {to}"),
                    Wanted => format!("it {to}"),
                });
                continue;
            }
            // A file's hash means nothing to a person (and, 64 characters long, it pushed the
            // panel wider than the screen): the sentence says a file came, the job shows it.
            if c.field == "image_sha256" || c.field == "sha256" {
                s.say(match (mood, c.after.is_null()) {
                    (Done, false) => format!("added the {label}"),
                    (Done, true) => format!("removed the {label}"),
                    (Wanted, false) => format!("a {label}"),
                    (Wanted, true) => format!("no {label}"),
                });
                continue;
            }
            if c.field == "lines" {
                s.say(match mood {
                    Done => "changed the lines",
                    Wanted => "other lines",
                });
                continue;
            }
            match (mood, c.before.is_null(), c.after.is_null()) {
                (Wanted, _, true) => {
                    s.say(format!("the {label} cleared"));
                }
                (Wanted, _, false) => {
                    s.say(format!("the {label} "));
                    s.value(&c.after);
                }
                (Done, _, true) => {
                    s.say(format!("cleared the {label} (was "));
                    s.value(&c.before).say(")");
                }
                (Done, true, false) => {
                    s.say(format!("set the {label} to "));
                    s.value(&c.after);
                }
                (Done, false, false) => {
                    s.say(format!("changed the {label} from "));
                    s.value(&c.before).say(" to ").value(&c.after);
                }
            }
        }
    }
}

/// Whether the clauses say what was done or what a held change wanted.
#[derive(Clone, Copy)]
enum Mood {
    Done,
    Wanted,
}
use Mood::{Done, Wanted};

/// A status move in words: "started the job", "resumed the job", "signed off the job".
fn status_words(
    record_type: RecordType,
    from: Option<State>,
    to: Option<State>,
    noun: &str,
) -> String {
    let Some(to) = to else {
        return "changed the status".into();
    };
    if record_type == RecordType::Invoice {
        return match to {
            State::Sent => "sent the invoice".into(),
            State::Paid => "marked the invoice paid".into(),
            other => format!("moved the invoice to {}", other.as_str().replace('_', " ")),
        };
    }
    match to {
        State::Opened => format!("opened {noun}"),
        State::InProgress if from == Some(State::Paused) => format!("resumed {noun}"),
        State::InProgress => format!("started {noun}"),
        State::Paused => format!("paused {noun}"),
        State::SignedOff => format!("signed off {noun}"),
        State::Closed => format!("closed {noun}"),
        other => format!("moved {noun} to {}", other.as_str().replace('_', " ")),
    }
}

/// A group as people call it on the pages (the page shows the same words).
pub(crate) fn group_words(group: Group) -> &'static str {
    match group {
        Group::Schedule => "visit",
        Group::Status => "status",
        Group::Work => "labour",
        Group::Description => "summary",
        Group::Signature => "sign-off",
        Group::Profile => "profile",
        Group::Billing => "billing details",
        Group::Totals => "totals",
        Group::Text => "note",
        Group::Line => "part line",
        Group::File => "photo",
        Group::Answers => "answers",
        Group::Entry => "entry",
    }
}

fn capital(words: &str) -> String {
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Two values are the same (a number 2 and 2.0 too, and two spellings of one instant).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) if is_time(x) && is_time(y) => {
            DateTime::parse_from_rfc3339(x).ok() == DateTime::parse_from_rfc3339(y).ok()
        }
        _ => a == b,
    }
}

fn is_time(s: &str) -> bool {
    s.len() >= 20 && DateTime::parse_from_rfc3339(s).is_ok()
}

/// A value in a sentence.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::String(s) => s.replace('_', " "),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 => format!("{f:.0}"),
            Some(f) => format!("{f}"),
            None => n.to_string(),
        },
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        other => other.to_string(),
    }
}

fn utc(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn utc_time(at: &str) -> String {
    utc(at)
        .map(|t| t.format("%a %-d %b %H:%M UTC").to_string())
        .unwrap_or_else(|| at.to_string())
}

fn utc_window(start: &str, end: Option<&str>) -> String {
    let (Some(s), e) = (utc(start), end.and_then(utc)) else {
        return start.to_string();
    };
    match e {
        Some(e) if e.date_naive() == s.date_naive() => {
            format!("{}–{} UTC", s.format("%a %-d %b %H:%M"), e.format("%H:%M"))
        }
        Some(e) => format!(
            "{} – {} UTC",
            s.format("%a %-d %b %H:%M"),
            e.format("%a %-d %b %H:%M")
        ),
        None => utc_time(start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_core::{ChangeId, Outcome};

    fn entry(seq: i64, author: &str, group: Option<Group>, op: Op, values: Value) -> HistoryEntry {
        let at = "2026-12-02T10:42:00Z".parse().expect("time");
        let change_id = ChangeId(uuid::Uuid::from_u128(seq as u128));
        HistoryEntry {
            seq,
            change_id,
            kind: LogKind::Change,
            record_type: RecordType::Job,
            record_id: RecordId(uuid::Uuid::nil()),
            group,
            op,
            base_version: 0,
            values,
            author: author.into(),
            device_id: None,
            device_time: at,
            server_time: at,
            outcome: Outcome {
                change_id,
                status: OutcomeStatus::Applied,
                version: Some(seq),
                seq: Some(seq),
                number: None,
                review_id: None,
                code: None,
                message: None,
                flags: Vec::new(),
                replayed: false,
            },
        }
    }

    #[test]
    fn only_the_fields_that_changed_are_told_and_the_window_is_one_range() {
        let mut names = Names::default();
        names.people.insert("dana".into(), "Dana Reyes".into());
        let mut story = Story::new(RecordType::Job, &names);
        story.tell(&entry(
            1,
            "dana",
            None,
            Op::Create,
            serde_json::json!({"schedule": {"site": "3 Mill St", "window_start": "2026-12-02T08:00:00Z", "window_end": "2026-12-02T12:00:00Z"}}),
        ));
        let moved = story.tell(&entry(
            2,
            "dana",
            Some(Group::Schedule),
            Op::Update,
            serde_json::json!({"site": "3 Mill St", "window_start": "2026-12-03T09:00:00Z", "window_end": "2026-12-03T11:00:00Z"}),
        ));
        assert_eq!(
            moved.text,
            "Dana Reyes moved the window to Thu 3 Dec 09:00–11:00 UTC"
        );
        assert_eq!(moved.changes.len(), 2, "the site did not change");
    }

    #[test]
    fn a_signature_reads_as_signed_and_its_image_as_added_never_as_a_hash() {
        let mut names = Names::default();
        names.people.insert("rita".into(), "Rita Patel".into());
        let mut story = Story::new(RecordType::Job, &names);
        let hash = "ab".repeat(32);
        let signed = story.tell(&entry(
            1,
            "rita",
            Some(Group::Signature),
            Op::Update,
            serde_json::json!({"signer": "J. Harbour", "signed_at": "2026-12-02T10:00:00Z", "image_sha256": hash}),
        ));
        assert!(!signed.text.contains(&hash), "{}", signed.text);
        assert!(
            signed.text.contains("added the signature image"),
            "{}",
            signed.text
        );
        assert!(signed.text.contains("J. Harbour"), "{}", signed.text);
    }
}
