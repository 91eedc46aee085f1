//! The office through its app: dispatchers, supervisors, finance and office staff acting by the
//! office app's own commands (`fieldsync_app::bridge::dispatch`, exactly as the Tauri shell and
//! the browser bridge call them), the way people use a screen: they open it, time passes (other
//! devices sync, other people act), and only then do they press the button.
//!
//! Why through the app and not the sync client: the promises of issue 11 are the app's. A form
//! must send the version it opened on, not the newest one when Save is pressed; a review card
//! must send the current version it showed; a reassign dialog the epoch it warned about. Only a
//! screen left open across sync rounds can break them, so a screen here is state kept on the
//! device between steps ([`Screen`]), and what each one showed is recorded ([`AppSave`],
//! [`AppResolve`]) for the checker to hold the server's log against.
//!
//! Arguments go as JSON and answers are read as JSON, field by field: the command layer's types
//! change while the app is worked on, and a command whose arguments no longer fit fails the run
//! (see [`World::command`]) instead of being skipped.

use fieldsync_app::{bridge, AppError};
use fieldsync_core::{ChangeId, Group, Op, RecordId, RecordType, Role};
use rand::Rng;
use serde_json::{json, Value};

use crate::fleet::{merged_values, short, Saved, World};
pub use crate::screens::{AppResolve, AppSave, Screen};
use crate::Failure;

/// A field of a JSON object as text.
fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn id_of(v: &Value, key: &str) -> Option<RecordId> {
    text(v, key).and_then(|s| s.parse().ok())
}

/// What a person types into a field of a group, so the value is theirs (tagged) and valid.
fn typed_value(group: Group, field: &str, tag: &str, rng: &mut rand::rngs::StdRng) -> String {
    match (group, field) {
        (Group::Work, "labour_hours") => format!("{}", rng.gen_range(1..=16) as f64 / 2.0),
        (Group::Totals, "total") => format!("{}", rng.gen_range(50..900)),
        (_, "phone") => format!("0{}", rng.gen_range(100_000..999_999)),
        (_, f) => format!("{tag} {}", f.replace('_', " ")),
    }
}

/// The fields of a group a person might change from its form, for each group the simulation's
/// office edits (the ones whose values the checker can tell apart).
fn editable_fields(record_type: RecordType, group: Group) -> &'static [&'static str] {
    match (record_type, group) {
        (RecordType::Customer, Group::Profile) => &["phone", "name"],
        (RecordType::Customer, Group::Billing) => &["billing_contact"],
        (RecordType::Job, Group::Work) => &["labour_hours"],
        (RecordType::Job, Group::Description) => &["summary"],
        (RecordType::Invoice, Group::Totals) => &["total"],
        _ => &[],
    }
}

impl World {
    /// Runs one command of the office app on device `d`, as the shell would. A command whose
    /// arguments no longer fit the app's types is a broken simulation, not a person told no.
    pub(crate) async fn command(
        &mut self,
        d: usize,
        name: &str,
        args: Value,
    ) -> Result<Result<Value, AppError>, Failure> {
        let Some(app) = self.devices[d].app.clone() else {
            return Err(Failure::setup(format!(
                "{} has no office app",
                self.devices[d].name
            )));
        };
        let answer = bridge::dispatch(&app, name, args).await;
        self.drain_net_trace();
        if let Err(e) = &answer {
            if e.message.starts_with("the command's arguments do not fit") {
                return Err(Failure::setup(format!(
                    "the simulation's `{name}` arguments no longer fit the app: {}",
                    e.message
                )));
            }
        }
        Ok(answer)
    }

    /// An office person at their desk, through the app: finishes the screen they have open (now
    /// and then; a screen stays open across steps, so other devices sync meanwhile), or opens one.
    pub(crate) async fn act_in_app(&mut self, d: usize) -> Result<(), Failure> {
        if self.devices[d].screen.is_some() && self.rng.gen_bool(0.6) {
            let screen = self.devices[d].screen.take();
            if let Some(screen) = screen {
                return self.finish(d, screen).await;
            }
        }
        let role = self.devices[d].role;
        let roll = self.rng.gen_range(0..100);
        // Half the time a review card: a card open while others resolve is where a stale
        // choice would be made.
        let screen = match (role, roll) {
            (Role::Office, 0..=59) => self.open_customer_form(d).await?,
            (Role::Finance, 0..=24) => self.open_customer_form(d).await?,
            (Role::Finance, 25..=44) => self.open_invoice_form(d).await?,
            (Role::Supervisor, 0..=24) => self.open_job_form(d, Group::Work).await?,
            (Role::Supervisor, 25..=49) => self.open_status(d).await?,
            (Role::Dispatcher, 0..=29) => self.open_reassign(d).await?,
            (Role::Dispatcher, 30..=44) => self.open_job_form(d, Group::Description).await?,
            _ => self.open_card(d).await?,
        };
        if screen.is_some() {
            self.devices[d].screen = screen;
        }
        Ok(())
    }

    /// A new form's action id, as the app makes it when a form opens.
    async fn action_id(&mut self, d: usize) -> Result<Option<String>, Failure> {
        Ok(self
            .command(d, "new_action_id", Value::Null)
            .await?
            .ok()
            .and_then(|a| text(&a, "action_id")))
    }

    /// Picks one of a list by the ids the simulation made (never by the server's random ones).
    fn pick<T: Clone>(&mut self, mut items: Vec<(String, T)>) -> Option<T> {
        items.sort_by(|a, b| a.0.cmp(&b.0));
        if items.is_empty() {
            return None;
        }
        let i = self.rng.gen_range(0..items.len());
        Some(items[i].1.clone())
    }

    /// Opens a form of a group from a page's `groups` (`job` or `customer`): remembers the
    /// version and decides which field this person changes.
    async fn open_form(
        &mut self,
        d: usize,
        record_type: RecordType,
        record_id: RecordId,
        page: &Value,
        want: Option<Group>,
    ) -> Result<Option<Screen>, Failure> {
        let groups: Vec<(String, (Group, i64))> = page["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["editable"].as_bool() == Some(true))
            .filter_map(|g| {
                let group = Group::parse(g["group"].as_str()?)?;
                let version = g["version"].as_i64()?;
                (!editable_fields(record_type, group).is_empty() && want.is_none_or(|w| w == group))
                    .then(|| (group.as_str().to_string(), (group, version)))
            })
            .collect();
        let Some((group, version)) = self.pick(groups) else {
            return Ok(None);
        };
        let Some(action_id) = self.action_id(d).await? else {
            return Ok(None);
        };
        let confirmed = self.confirmed(d, record_id, group).await;
        let fields = editable_fields(record_type, group);
        let field = fields[self.rng.gen_range(0..fields.len())].to_string();
        let tag = self.tag();
        let typed = typed_value(group, &field, &tag, &mut self.rng);
        let name = self.devices[d].name.clone();
        self.note(format!(
            "{name}: app: opens the {record_type} {} {group} form at v{version}",
            short(record_id)
        ));
        Ok(Some(Screen::Form {
            record_type,
            record_id,
            group,
            version,
            confirmed,
            field,
            typed,
            action_id,
        }))
    }

    async fn open_customer_form(&mut self, d: usize) -> Result<Option<Screen>, Failure> {
        let Ok(list) = self.command(d, "customers", Value::Null).await? else {
            return Ok(None);
        };
        let ids: Vec<(String, RecordId)> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| id_of(c, "id").map(|id| (id.to_string(), id)))
            .collect();
        let Some(id) = self.pick(ids) else {
            return Ok(None);
        };
        let answer = self
            .command(d, "customer", json!({"customer_id": id.to_string()}))
            .await?;
        match answer {
            Ok(page) => {
                self.open_form(d, RecordType::Customer, id, &page, None)
                    .await
            }
            Err(_) => Ok(None),
        }
    }

    async fn open_invoice_form(&mut self, d: usize) -> Result<Option<Screen>, Failure> {
        // The invoices page lists them; its edit form is the same group form as any other's.
        let views = self.views(d, RecordType::Invoice).await?;
        let ids: Vec<(String, (RecordId, i64))> = views
            .iter()
            .filter(|v| !v.record.read_only && !v.record.local_only)
            .filter_map(|v| {
                let version = v.bases.get(&Group::Totals).copied()?;
                Some((
                    v.record.record_id.to_string(),
                    (v.record.record_id, version),
                ))
            })
            .collect();
        let Some((id, version)) = self.pick(ids) else {
            return Ok(None);
        };
        let page = json!({"groups": [{"group": "totals", "version": version, "editable": true}]});
        self.open_form(d, RecordType::Invoice, id, &page, Some(Group::Totals))
            .await
    }

    /// The board's jobs on this desk (sorted by id), and one of them.
    async fn pick_job(&mut self, d: usize) -> Result<Option<RecordId>, Failure> {
        let Ok(board) = self.command(d, "board", json!({})).await? else {
            return Ok(None);
        };
        let ids: Vec<(String, RecordId)> = board
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["read_only"].as_bool() != Some(true))
            .filter_map(|c| id_of(c, "id").map(|id| (id.to_string(), id)))
            .collect();
        Ok(self.pick(ids))
    }

    async fn open_job_form(&mut self, d: usize, group: Group) -> Result<Option<Screen>, Failure> {
        let Some(id) = self.pick_job(d).await? else {
            return Ok(None);
        };
        match self
            .command(d, "job", json!({"job_id": id.to_string()}))
            .await?
        {
            Ok(page) => {
                self.open_form(d, RecordType::Job, id, &page, Some(group))
                    .await
            }
            Err(_) => Ok(None),
        }
    }

    async fn open_status(&mut self, d: usize) -> Result<Option<Screen>, Failure> {
        let Some(id) = self.pick_job(d).await? else {
            return Ok(None);
        };
        let Ok(page) = self
            .command(d, "job", json!({"job_id": id.to_string()}))
            .await?
        else {
            return Ok(None);
        };
        if page["can_change_status"].as_bool() != Some(true) {
            return Ok(None);
        }
        let version = page["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["group"].as_str() == Some("status"))
            .and_then(|g| g["version"].as_i64());
        let next: Vec<(String, Value)> = page["next_states"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(|t| (t.to_string(), s.clone())))
            .collect();
        let (Some(version), Some(to)) = (version, self.pick(next)) else {
            return Ok(None);
        };
        let name = self.devices[d].name.clone();
        self.note(format!(
            "{name}: app: opens job {} at status v{version}, means to move it to {to}",
            short(id)
        ));
        let confirmed = self.confirmed(d, id, Group::Status).await;
        Ok(Some(Screen::Status {
            job_id: id,
            version,
            confirmed,
            to,
        }))
    }

    async fn open_reassign(&mut self, d: usize) -> Result<Option<Screen>, Failure> {
        let Some(id) = self.pick_job(d).await? else {
            return Ok(None);
        };
        let Ok(check) = self
            .command(d, "reassign_check", json!({"job_id": id.to_string()}))
            .await?
        else {
            return Ok(None);
        };
        let candidates: Vec<(String, String)> = check["candidates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| text(c, "name").map(|n| (n.clone(), n)))
            .collect();
        let (Some(epoch), Some(to)) = (check["owner_epoch"].as_i64(), self.pick(candidates)) else {
            return Ok(None);
        };
        let name = self.devices[d].name.clone();
        self.note(format!(
            "{name}: app: opens the reassign dialog of {} at epoch {epoch}, to {to}",
            short(id)
        ));
        Ok(Some(Screen::Reassign {
            job_id: id,
            epoch,
            to,
        }))
    }

    async fn open_card(&mut self, d: usize) -> Result<Option<Screen>, Failure> {
        let Ok(cards) = self.command(d, "inbox", Value::Null).await? else {
            return Ok(None);
        };
        // Sorted by when the server made the item (every server reading is distinct) and by
        // the record: never by the review id, which is the server's random choice.
        let open: Vec<(String, Value)> = cards
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["can_resolve"].as_bool() == Some(true))
            .filter_map(|c| {
                let key = format!(
                    "{} {} {}",
                    text(c, "created_at")?,
                    text(c, "record_id")?,
                    text(c, "group").unwrap_or_default()
                );
                Some((key, c.clone()))
            })
            .collect();
        let Some(card) = self.pick(open) else {
            return Ok(None);
        };
        // A card may stack several held versions of its group (each with its own review id,
        // in the order the card lists them): the person takes one of them. A card that stacks
        // nothing is its own item.
        let held: Vec<(String, String)> = card["held"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, h)| h["can_resolve"].as_bool() != Some(false))
            .filter_map(|(i, h)| text(h, "review_id").map(|id| (format!("{i:04}"), id)))
            .collect();
        let review_id = match self.pick(held) {
            Some(id) => Some(id),
            None => text(&card, "id"),
        };
        let (Some(review_id), Some(record_id)) = (review_id, id_of(&card, "record_id")) else {
            return Ok(None);
        };
        // A possible duplicate's card shows the new job's state; voiding it names that state.
        let seen_state = card["duplicate"]["new"]["state"].clone();
        let group = text(&card, "group").and_then(|g| Group::parse(&g));
        let shown = card["current"]["version"].as_i64();
        let merge = card["allows_merge"].as_bool() == Some(true);
        let kind = self.record_type_of(d, record_id).await;
        let (choice, values) = match self.rng.gen_range(0..3) {
            2 if merge => match kind.and_then(|t| merged_values(t, group, &mut self.rng)) {
                Some(values) => ("merged", Some(values)),
                None => ("current", None),
            },
            0 => ("current", None),
            _ => ("incoming", None),
        };
        let name = self.devices[d].name.clone();
        self.note(format!(
            "{name}: app: opens a {} card on {} ({}) showing current v{}, means {choice}",
            text(&card, "kind").unwrap_or_default(),
            short(record_id),
            group.map(|g| g.as_str()).unwrap_or("-"),
            shown.unwrap_or(-1)
        ));
        Ok(Some(Screen::Card {
            review_id,
            record_id,
            group,
            shown,
            choice,
            values,
            seen_state,
        }))
    }

    /// The server's version of a group this device has confirmed (0 when it has none).
    async fn confirmed(&mut self, d: usize, id: RecordId, group: Group) -> i64 {
        let client = self.devices[d].client.clone();
        client
            .cache()
            .record(id)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.groups.get(&group).map(|g| g.0))
            .unwrap_or(0)
    }

    async fn record_type_of(&mut self, d: usize, id: RecordId) -> Option<RecordType> {
        let client = self.devices[d].client.clone();
        client
            .cache()
            .record(id)
            .await
            .ok()
            .flatten()
            .map(|r| r.record_type)
    }

    /// The person presses the button of the screen they opened, with what it showed.
    async fn finish(&mut self, d: usize, screen: Screen) -> Result<(), Failure> {
        let name = self.devices[d].name.clone();
        match screen {
            Screen::Form {
                record_type,
                record_id,
                group,
                version,
                confirmed,
                field,
                typed,
                action_id,
            } => {
                // Only the field the person changed goes, on the version the form opened on.
                let args = json!({
                    "record_type": record_type.as_str(),
                    "record_id": record_id.to_string(),
                    "group": group.as_str(),
                    "values": { field.clone(): typed },
                    "action_id": action_id,
                    "base_version": version,
                });
                let taps = if self.rng.gen_bool(0.1) { 2 } else { 1 };
                for tap in 0..taps {
                    let answer = self.command(d, "save_group", args.clone()).await?;
                    let shown = self.saved(
                        d,
                        record_type,
                        record_id,
                        group,
                        (confirmed, version),
                        &answer,
                    );
                    self.note(format!(
                        "{name}: app: saves the {record_type} {} {group} form ({field}) opened at v{version}{} -> {shown}",
                        short(record_id),
                        if tap > 0 { " (again)" } else { "" },
                    ));
                }
                self.counts.app_saves += 1;
            }
            Screen::Status {
                job_id,
                version,
                confirmed,
                to,
            } => {
                let args = json!({
                    "job_id": job_id.to_string(),
                    "state": to,
                    "base_version": version,
                });
                let answer = self.command(d, "set_status", args).await?;
                let shown = self.saved(
                    d,
                    RecordType::Job,
                    job_id,
                    Group::Status,
                    (confirmed, version),
                    &answer,
                );
                self.note(format!(
                    "{name}: app: moves job {} to {to} from the page at status v{version} -> {shown}",
                    short(job_id)
                ));
                self.counts.app_saves += 1;
            }
            Screen::Card {
                review_id,
                record_id,
                group,
                shown,
                choice,
                values,
                seen_state,
            } => {
                let tag = self.tag();
                let args = json!({
                    "review_id": review_id,
                    "choice": choice,
                    "values": values,
                    "current_version": shown,
                    "seen_state": seen_state,
                    "reason": format!("{tag} duplicate"),
                });
                let answer = self.command(d, "resolve", args).await?;
                let result = answer.as_ref().map(|_| ()).map_err(|e| e.code.clone());
                self.note(format!(
                    "{name}: app: chooses {choice} on the card of {} ({}) that showed v{} -> {}",
                    short(record_id),
                    group.map(|g| g.as_str()).unwrap_or("-"),
                    shown.unwrap_or(-1),
                    match &result {
                        Ok(()) => "resolved".to_string(),
                        Err(code) => format!("refused ({code})"),
                    }
                ));
                if result.is_ok() {
                    self.counts.office_calls_done += 1;
                }
                self.counts.app_resolves += 1;
                self.app_resolves.push(AppResolve {
                    device: d,
                    review_id,
                    record_id,
                    group,
                    shown,
                    answer: result,
                });
            }
            Screen::Reassign { job_id, epoch, to } => {
                // The dialog asks why; the reason goes with the move.
                let tag = self.tag();
                let args = json!({
                    "job_id": job_id.to_string(),
                    "to_user": to,
                    "owner_epoch": epoch,
                    "reason": format!("{tag} reassign"),
                });
                let answer = self.command(d, "reassign", args).await?;
                self.note(format!(
                    "{name}: app: reassigns {} to {to} from the dialog at epoch {epoch} -> {}",
                    short(job_id),
                    match &answer {
                        Ok(_) => "done".to_string(),
                        Err(e) => format!("refused ({})", e.code),
                    }
                ));
                if answer.is_ok() {
                    self.counts.office_calls_done += 1;
                }
                self.counts.reassigns += 1;
            }
        }
        Ok(())
    }

    /// Records an edit the app saved (for every check that follows saves, and for the version
    /// its form showed); the words the app answered, for the trace.
    fn saved(
        &mut self,
        d: usize,
        record_type: RecordType,
        record_id: RecordId,
        group: Group,
        (confirmed, seen): (i64, i64),
        answer: &Result<Value, AppError>,
    ) -> String {
        match answer {
            Ok(result) => {
                let Some(change_id) = text(result, "change_id")
                    .and_then(|s| s.parse::<uuid::Uuid>().ok())
                    .map(ChangeId)
                else {
                    return "saved, with no change id".into();
                };
                let mut saves = self.saves.lock().unwrap_or_else(|p| p.into_inner());
                if !saves
                    .iter()
                    .any(|s| s.device == d && s.change_id == change_id)
                {
                    saves.push(Saved {
                        device: d,
                        change_id,
                        record_type,
                        record_id,
                        op: Op::Update,
                        tag: None,
                    });
                    drop(saves);
                    self.app_saves.push(AppSave {
                        device: d,
                        change_id,
                        record_type,
                        record_id,
                        group,
                        seen,
                        confirmed,
                    });
                }
                text(result, "state_label").unwrap_or_default()
            }
            Err(e) => format!("refused ({})", e.code),
        }
    }
}
