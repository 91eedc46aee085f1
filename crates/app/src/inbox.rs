//! The review inbox: the items this person's role may see, as cards, and resolving them.
//!
//! One card per contested field group: every held change on the same record and group (the
//! conflict and ownership-moved kinds) is stacked in one card, newest first, against the
//! group's current value as it stands now (the store re-reads it whenever the group moved). A
//! person reads one picture and decides once; three cards of one status each saying something
//! different about "Current" was how a stale "Keep current" kept a value nobody saw.
//!
//! When one stacked version is taken, the others stay in the card: they are still held
//! changes nobody decided on, now compared against the new current (the one just taken), and
//! the group stays contested until the last is resolved. "Keep current" on the card resolves
//! every stacked version in turn, each naming the version the card showed (then the version
//! the previous keep wrote, since keeping a contested group writes it again as a new version).
//!
//! A possible duplicate's card shows both jobs as this device reads them now (state, owner,
//! device), and voiding the new one names the state the card showed: the command layer refuses
//! the void when the job moved since, for every caller. It leans on [`crate::board`] for a
//! job's card and on `devices` for people's and devices' names.

use fieldsync_core::fields::{check_group, FieldProblem};
use fieldsync_core::wire::{ResolveChoice, ResolveRequest, ReviewItem, VersionSide};
use fieldsync_core::{Owner, Policy, RecordId, RecordType, ReviewKind, Role, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ts_rs::TS;

use crate::edit::typed_values;
use crate::ids::{parse_id, parse_review_id};
use crate::views::{shown_state, FieldView, JobCard};
use crate::{App, AppError};

/// One version of a group as a card shows it: its values and who saved it, on which device,
/// when. Names, never raw ids: a person cannot act on a UUID.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SideView {
    #[ts(type = "Record<string, unknown>")]
    pub values: Value,
    /// The person's display name where the office knows it, else their user name.
    pub who: Option<String>,
    /// Their user name.
    pub user: Option<String>,
    pub when: Option<String>,
    /// The device's name; none when the server does not know which device it was.
    pub device: Option<String>,
    #[ts(type = "number | null")]
    pub version: Option<i64>,
}

/// One field of a held version beside the group's base and current: which side moved it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FieldChange {
    pub field: String,
    /// The field as the forms label it ("Status", not `state`).
    pub label: String,
    #[ts(type = "unknown")]
    pub base: Value,
    #[ts(type = "unknown")]
    pub current: Value,
    /// What the held version says of it (null when it does not name the field: taking it
    /// leaves the current value).
    #[ts(type = "unknown")]
    pub incoming: Value,
    /// `current` (changed from the base on the current side only), `incoming`, `both`, or
    /// `unknown` when the base is not known.
    pub changed: String,
}

/// One held change stacked in a card.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct HeldVersion {
    pub review_id: String,
    pub kind: String,
    pub base: Option<SideView>,
    pub incoming: SideView,
    /// The fields where base, current and this version are not all the same.
    pub fields: Vec<FieldChange>,
    /// Fields whose current and incoming values differ.
    pub differing: Vec<String>,
    /// This person may take this version.
    pub can_resolve: bool,
}

/// A possible duplicate's two jobs as this device reads them now.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DuplicatePair {
    /// The open job the new one matched ("Existing J-000004").
    pub existing: Option<JobCard>,
    /// The job the held create made ("New J-000005").
    pub new: Option<JobCard>,
    /// What voiding the new job does, and who and what it touches: said in the confirmation
    /// before anything happens.
    pub void_consequences: Vec<String>,
    /// Whether the new job is beyond assigned or has unsynced work: the void needs a second
    /// look, not one click.
    pub void_is_serious: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReviewCard {
    /// The newest stacked item's review id (a stable key for the card).
    pub id: String,
    /// `conflict` when any stacked item is one, else the items' kind.
    pub kind: String,
    pub title: String,
    pub record_id: String,
    pub record_type: String,
    pub record_number: Option<String>,
    pub group: Option<String>,
    /// The group as it stands now (none for a possible duplicate: see `duplicate`).
    pub current: Option<SideView>,
    /// The held changes, newest first.
    pub held: Vec<HeldVersion>,
    /// The job this is about: its customer, site and technician, and a way to open it.
    pub job: Option<JobCard>,
    pub duplicate: Option<DuplicatePair>,
    pub matched_number: Option<String>,
    /// When the newest stacked change was held.
    pub created_at: String,
    /// This person may resolve every stacked item ("Keep current" on the card).
    pub can_resolve: bool,
    pub resolvers: Vec<String>,
    pub allows_merge: bool,
    /// The group's fields as the edit forms show them (the same kinds, so the merge form has
    /// the same typed widgets), prefilled from `current`; empty when there is no merge.
    pub merge_fields: Vec<FieldView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ResolveArgs {
    pub review_id: String,
    /// `current`, `incoming` or `merged`.
    pub choice: String,
    #[ts(type = "Record<string, unknown> | null")]
    pub values: Option<Value>,
    /// The version of the group the card showed as current (its `current.version`): when the
    /// group has moved on since, the choice is refused and the card shows the new picture.
    #[ts(type = "number | null")]
    pub current_version: Option<i64>,
    /// For voiding a possible duplicate: the new job's state as the card showed it. A
    /// duplicate names no group, so the server has no version to check; the command layer
    /// refuses the void when the job's state moved since the card was read.
    #[serde(default)]
    pub seen_state: Option<State>,
    /// For voiding a possible duplicate: why, in the person's words (kept with the void).
    #[serde(default)]
    pub reason: Option<String>,
}

/// "Keep current" on a card: every stacked item, on the version the card showed.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct KeepArgs {
    pub review_ids: Vec<String>,
    #[ts(type = "number | null")]
    pub current_version: Option<i64>,
}

/// "Save merged" on a card: the merged value of the group, and every stacked item it settles.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MergeArgs {
    pub review_ids: Vec<String>,
    /// The whole group as the merge form states it.
    #[ts(type = "Record<string, unknown>")]
    pub values: Value,
    #[ts(type = "number | null")]
    pub current_version: Option<i64>,
}

fn parse_ids(ids: &[String]) -> Result<Vec<fieldsync_core::ReviewId>, AppError> {
    if ids.is_empty() {
        return Err(AppError::new(
            "invalid",
            "name the held versions this settles",
        ));
    }
    ids.iter().map(|id| parse_review_id(id)).collect()
}

/// A merge refused for its values: every field's sentence (each names its field), with the
/// code the server uses.
fn refusal(problems: &[FieldProblem]) -> AppError {
    let said: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    AppError::new("invalid_change", said.join(" "))
}

/// A choice on an item someone else resolved meanwhile was made on a picture that moved: the
/// person reads it as the same "This changed since you opened it" as a moved version, with the
/// server's sentence saying who resolved it.
fn seen_moved(e: fieldsync_client::ClientError) -> AppError {
    let e = AppError::from(e);
    if e.code == "already_resolved" {
        return changed_since_seen(format!(
            "This changed since you opened it: {}. Look at it again before choosing.",
            e.message
        ));
    }
    e
}

fn changed_since_seen(message: String) -> AppError {
    AppError::new("changed_since_seen", message)
}

impl App {
    /// The review inbox for this user's role, one card per contested group, newest first.
    pub async fn inbox(&self) -> Result<Vec<ReviewCard>, AppError> {
        // Not a card for a duplicate the person already ruled out (see `confirmed`).
        self.settle_confirmed().await;
        let items: Vec<ReviewItem> = match self.active()?.inbox(false).await {
            Ok(list) => list,
            Err(_) => self.active()?.review_items().await?,
        };
        self.refresh_devices().await;
        let role = self.role();
        let policy = self.policy().await;
        let mut stacks: Vec<Vec<ReviewItem>> = Vec::new();
        for item in items {
            let key = stack_key(&item);
            match key.as_ref().and_then(|k| {
                stacks
                    .iter_mut()
                    .find(|s| stack_key(&s[0]).as_ref() == Some(k))
            }) {
                Some(stack) => stack.push(item),
                None => stacks.push(vec![item]),
            }
        }
        let mut cards = Vec::new();
        for mut stack in stacks {
            // Newest first, whatever order the pages came in.
            stack.sort_by(|a, b| {
                b.created_at
                    .cmp(&a.created_at)
                    .then(b.review_id.0.cmp(&a.review_id.0))
            });
            cards.push(self.review_card(stack, role, &policy).await);
        }
        cards.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(cards)
    }

    pub async fn resolve(&self, args: ResolveArgs) -> Result<ReviewCard, AppError> {
        let review_id = parse_review_id(&args.review_id)?;
        let choice = ResolveChoice::parse(&args.choice).ok_or_else(|| {
            AppError::new(
                "invalid",
                format!(
                    "`{}` is not a choice: current, incoming or merged",
                    args.choice
                ),
            )
        })?;
        let mut values = args.values.clone();
        if choice == ResolveChoice::Current {
            let items = self.active()?.inbox(false).await?;
            if let Some(item) = items.iter().find(|i| i.review_id == review_id) {
                if item.kind == ReviewKind::PossibleDuplicate {
                    self.check_void(item, &args).await?;
                    values = args
                        .reason
                        .as_deref()
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(|r| json!({ "reason": r }));
                }
            }
        }
        let request = ResolveRequest {
            choice,
            values,
            current_version: args.current_version,
        };
        let item = self
            .active()?
            .resolve(review_id, &request)
            .await
            .map_err(seen_moved)?
            .item;
        let _ = self.active()?.sync_now().await;
        let policy = self.policy().await;
        Ok(self.review_card(vec![item], self.role(), &policy).await)
    }

    /// "Keep current" for every held version of a card. The first keep names the version the
    /// card showed; keeping a contested group writes it again as a new version, so each next
    /// keep names the version the previous one wrote: anyone else's change in between is still
    /// refused with `changed_since_seen`, and the card is read again.
    pub async fn keep_current(&self, args: KeepArgs) -> Result<Vec<ReviewCard>, AppError> {
        let ids = parse_ids(&args.review_ids)?;
        self.settle(ids, None, args.current_version).await
    }

    /// "Save merged" on a card: the group becomes the merged value, and the card's other held
    /// versions are settled by keeping it. The person wrote the merge looking at every version
    /// stacked in the card, so it answers all of them; leaving the others open would ask them
    /// again about versions their merge already weighed. The merge goes to a conflict item (an
    /// ownership-moved edit is taken or left, not merged).
    pub async fn merge(&self, args: MergeArgs) -> Result<Vec<ReviewCard>, AppError> {
        let mut ids = parse_ids(&args.review_ids)?;
        let items = self.active()?.inbox(false).await?;
        let is_conflict = |id: &fieldsync_core::ReviewId| {
            items
                .iter()
                .any(|i| i.review_id == *id && i.kind == ReviewKind::Conflict)
        };
        let Some(at) = ids.iter().position(is_conflict) else {
            return Err(AppError::new(
                "invalid",
                "a merged value is for a conflict; none of these held versions is one",
            ));
        };
        let first = ids.remove(at);
        ids.insert(0, first);
        // Typed and checked here, for every caller, by the rules the edit forms use: a merged
        // total that is not its subtotal plus tax is refused with its sentence, not sent.
        let item = items.iter().find(|i| i.review_id == first);
        let values = match item.and_then(|i| i.group.map(|g| (i, g))) {
            Some((item, group)) => {
                let typed =
                    typed_values(item.record_type, group, &args.values).map_err(|p| refusal(&p))?;
                let typed = Value::Object(typed);
                if group == fieldsync_core::Group::Status {
                    if let Some(state) = typed.get("state").and_then(Value::as_str) {
                        let valid = item.record_type.states();
                        if !State::parse(state).is_some_and(|s| valid.contains(&s)) {
                            let names: Vec<&str> = valid.iter().map(|s| s.as_str()).collect();
                            return Err(AppError::new(
                                "invalid_change",
                                format!(
                                    "“{state}” is not a state of a {}: use one of {}.",
                                    item.record_type.as_str().replace('_', " "),
                                    names.join(", ")
                                ),
                            ));
                        }
                    }
                }
                let current = item
                    .current
                    .as_ref()
                    .map(|c| c.values.clone())
                    .unwrap_or_else(|| json!({}));
                let problems = check_group(item.record_type, group, &current, &typed);
                if !problems.is_empty() {
                    return Err(refusal(&problems));
                }
                typed
            }
            None => args.values,
        };
        self.settle(ids, Some(values), args.current_version).await
    }

    /// Resolves a card's items in turn: the first by the merged value when there is one (else
    /// by keeping current), every next by keeping what the previous one wrote, each naming the
    /// version it was decided on.
    async fn settle(
        &self,
        ids: Vec<fieldsync_core::ReviewId>,
        merged: Option<Value>,
        mut seen: Option<i64>,
    ) -> Result<Vec<ReviewCard>, AppError> {
        let mut done = Vec::new();
        let mut merged = merged;
        for review_id in ids {
            let request = match merged.take() {
                Some(values) => ResolveRequest {
                    choice: ResolveChoice::Merged,
                    values: Some(values),
                    current_version: seen,
                },
                None => ResolveRequest {
                    choice: ResolveChoice::Current,
                    values: None,
                    current_version: seen,
                },
            };
            let answer = match self.active()?.resolve(review_id, &request).await {
                Ok(answer) => answer,
                Err(e) => {
                    // Those already settled stay settled; the card is read again and shows
                    // what is left on the group as it stands.
                    let _ = self.active()?.sync_now().await;
                    return Err(seen_moved(e));
                }
            };
            if seen.is_some() {
                if let Some(version) = answer.outcome.version {
                    seen = Some(version);
                }
            }
            done.push(answer.item);
        }
        let _ = self.active()?.sync_now().await;
        let role = self.role();
        let policy = self.policy().await;
        let mut cards = Vec::new();
        for item in done {
            cards.push(self.review_card(vec![item], role, &policy).await);
        }
        Ok(cards)
    }

    /// A possible duplicate's void is refused when the new job moved since the card was read:
    /// the person decided on a job that was, say, still assigned, and it may now be started.
    async fn check_void(&self, item: &ReviewItem, args: &ResolveArgs) -> Result<(), AppError> {
        let Some(seen) = args.seen_state else {
            return Err(AppError::new(
                "invalid",
                "say which state the card showed for the new job (seen_state): a void is checked against it",
            ));
        };
        // Read the job as it is now, not as this device last pulled it.
        let _ = self.active()?.sync_now().await;
        let view = self.active()?.record(item.record_id).await?;
        let now = view.as_ref().map(shown_state);
        if now != Some(seen) {
            let number = item.number.clone().unwrap_or_else(|| "The new job".into());
            let now = now.map(State::words).unwrap_or("gone from this device");
            return Err(changed_since_seen(format!(
                "This changed since you opened it: {number} is {now} now, the card showed {}. Look at it again before voiding.",
                seen.words()
            )));
        }
        Ok(())
    }

    /// A job's card when this device has the job.
    async fn job_card(&self, id: RecordId) -> Option<JobCard> {
        let view = self.active().ok()?.record(id).await.ok().flatten()?;
        if view.record.record_type != RecordType::Job {
            return None;
        }
        Some(self.card(&view).await)
    }

    /// The job a review item is about: the record itself, or the job it belongs to.
    async fn job_of(&self, item: &ReviewItem) -> Option<JobCard> {
        if item.record_type == RecordType::Job {
            return self.job_card(item.record_id).await;
        }
        let mut job_id = None;
        if let Ok(Some(view)) = self.active().ok()?.record(item.record_id).await {
            job_id = view
                .values
                .values()
                .find_map(|g| g.get("job_id").and_then(Value::as_str).map(str::to_string));
        }
        let job_id = job_id.or_else(|| {
            item.incoming
                .values
                .get("job_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        })?;
        self.job_card(parse_id(&job_id).ok()?).await
    }

    fn person(&self, user: &str) -> String {
        self.owner_view(&Owner::User(user.to_string())).display_name
    }

    fn side(&self, side: &VersionSide) -> SideView {
        let device = side.device_name.clone().or_else(|| {
            let id = side.device_id?;
            self.devices
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|d| d.device_id == id)
                .map(|d| d.name.clone())
        });
        SideView {
            values: side.values.clone(),
            who: side.author.as_deref().map(|u| self.person(u)),
            user: side.author.clone(),
            when: side.server_time.map(|t| t.to_rfc3339()),
            device,
            version: side.version,
        }
    }

    /// The fields a merge form shows for this item's group: the edit forms' own, for the record
    /// as this device has it.
    async fn merge_fields(&self, item: &ReviewItem, policy: &Policy) -> Vec<FieldView> {
        let Some(group) = item.group else {
            return Vec::new();
        };
        let Ok(client) = self.active() else {
            return Vec::new();
        };
        let Ok(Some(view)) = client.record(item.record_id).await else {
            return Vec::new();
        };
        self.group_views(item.record_type, &view, &shown_state(&view), policy)
            .into_iter()
            .find(|g| g.group == group.as_str())
            .map(|g| g.fields)
            .unwrap_or_default()
    }

    async fn review_card(
        &self,
        stack: Vec<ReviewItem>,
        role: Option<Role>,
        policy: &Policy,
    ) -> ReviewCard {
        let newest = &stack[0];
        let what = newest
            .group
            .map(|g| g.as_str().replace('_', " "))
            .unwrap_or_else(|| newest.record_type.as_str().replace('_', " "));
        let number = newest
            .number
            .clone()
            .unwrap_or_else(|| "a new record".into());
        let any_conflict = stack.iter().any(|i| i.kind == ReviewKind::Conflict);
        let kind = if any_conflict {
            ReviewKind::Conflict
        } else {
            newest.kind
        };
        let title = match kind {
            ReviewKind::Conflict if stack.len() == 1 => {
                format!("Two versions of the {what} of {number}")
            }
            ReviewKind::Conflict => {
                format!("{} versions of the {what} of {number}", stack.len() + 1)
            }
            ReviewKind::OwnershipMoved if stack.len() == 1 => {
                format!("An edit made by the old owner of {number} after it was reassigned")
            }
            ReviewKind::OwnershipMoved => format!(
                "{} edits made by the old owner of {number} after it was reassigned",
                stack.len()
            ),
            ReviewKind::PossibleDuplicate => format!(
                "{number} may duplicate {}",
                newest
                    .matched_number
                    .clone()
                    .unwrap_or_else(|| "an open job".into())
            ),
            ReviewKind::VoidVsUpdate => {
                format!("{number} was voided and changed at the same time")
            }
        };
        // Every open item reads the group as it stands (the store re-reads it); the newest
        // version among them is the group now, should a commit fall between two reads.
        // A possible duplicate's stored current side is the matched job as it was when the new
        // one was flagged: long out of date, so the card shows the pair as read now instead.
        let current = stack
            .iter()
            .filter(|i| i.kind != ReviewKind::PossibleDuplicate)
            .filter_map(|i| i.current.as_ref())
            .max_by_key(|c| c.version)
            .map(|c| self.side(c));
        let may = |item: &ReviewItem| {
            item.state == "open" && role.is_some_and(|r| item.resolvers.contains(&r))
        };
        let held = stack
            .iter()
            .map(|item| {
                let base = item.base.as_ref().map(|b| self.side(b));
                let fields = field_changes(
                    base.as_ref().map(|b| &b.values),
                    current.as_ref().map(|c| &c.values),
                    &item.incoming.values,
                );
                let differing = fields
                    .iter()
                    .filter(|f| !f.incoming.is_null() && !same(&f.incoming, &f.current))
                    .map(|f| f.field.clone())
                    .collect();
                HeldVersion {
                    review_id: item.review_id.to_string(),
                    kind: item.kind.as_str().into(),
                    base,
                    incoming: self.side(&item.incoming),
                    fields,
                    differing,
                    can_resolve: may(item),
                }
            })
            .collect();
        let duplicate = if newest.kind == ReviewKind::PossibleDuplicate {
            Some(self.duplicate_pair(newest).await)
        } else {
            None
        };
        let mut resolvers: Vec<String> = Vec::new();
        for item in &stack {
            for r in &item.resolvers {
                if !resolvers.iter().any(|x| x == r.as_str()) {
                    resolvers.push(r.as_str().to_string());
                }
            }
        }
        let allows_merge = kind == ReviewKind::Conflict;
        let merge_fields = if allows_merge {
            self.merge_fields(newest, policy).await
        } else {
            Vec::new()
        };
        ReviewCard {
            id: newest.review_id.to_string(),
            kind: kind.as_str().into(),
            title,
            record_id: newest.record_id.to_string(),
            record_type: newest.record_type.as_str().into(),
            record_number: newest.number.clone(),
            group: newest.group.map(|g| g.as_str().into()),
            current,
            held,
            job: self.job_of(newest).await,
            duplicate,
            matched_number: newest.matched_number.clone(),
            created_at: newest.created_at.to_rfc3339(),
            can_resolve: stack.iter().all(may),
            resolvers,
            allows_merge,
            merge_fields,
        }
    }

    async fn duplicate_pair(&self, item: &ReviewItem) -> DuplicatePair {
        let existing = match item.matched_record_id {
            Some(id) => self.job_card(id).await,
            None => None,
        };
        let new = self.job_card(item.record_id).await;
        let number = item.number.clone().unwrap_or_else(|| "the new job".into());
        let mut consequences = vec![format!(
            "{number} becomes voided: it leaves the board's open jobs and every device is told at its next sync."
        )];
        let mut serious = false;
        if let Some(job) = &new {
            let who = &job.owner.display_name;
            if job.state != State::Assigned {
                serious = true;
                consequences.push(format!(
                    "{who} is working on it: it is {} now.",
                    job.state.words()
                ));
            }
            if let Some(n) = job.owner.unsynced.filter(|n| *n > 0) {
                serious = true;
                let device = job
                    .owner
                    .device
                    .clone()
                    .unwrap_or_else(|| format!("{who}'s device"));
                consequences.push(format!(
                    "{device} has {n} change{} not yet synced; what it sends about {number} after the void goes to review.",
                    if n == 1 { "" } else { "s" }
                ));
            }
            if job.sync_level != "synced" {
                serious = true;
                consequences.push(format!(
                    "This device has a change to {number} not yet synced ({}).",
                    job.sync_label
                ));
            }
        }
        DuplicatePair {
            existing,
            new,
            void_consequences: consequences,
            void_is_serious: serious,
        }
    }
}

/// The card that item belongs in: the conflict and ownership-moved kinds stack by record and
/// group; any other item is a card of its own.
fn stack_key(item: &ReviewItem) -> Option<(RecordId, fieldsync_core::Group)> {
    if item.state != "open" {
        return None;
    }
    match (item.kind, item.group) {
        (ReviewKind::Conflict | ReviewKind::OwnershipMoved, Some(group)) => {
            Some((item.record_id, group))
        }
        _ => None,
    }
}

/// Whether two values say the same: 180 and 180.0 are one amount (a device may send either),
/// and a card that called an untouched total "changed on both sides" would send a person
/// looking for a difference that is not there.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Per field, which side moved it from the base. A field appears when base, current and the
/// held version do not all agree on it (a field the held version does not name reads as the
/// current value, since taking the version leaves it).
fn field_changes(
    base: Option<&Value>,
    current: Option<&Value>,
    incoming: &Value,
) -> Vec<FieldChange> {
    let mut names: Vec<String> = Vec::new();
    for values in [base, current, Some(incoming)].into_iter().flatten() {
        if let Some(map) = values.as_object() {
            for key in map.keys() {
                if !names.contains(key) {
                    names.push(key.clone());
                }
            }
        }
    }
    let get = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).cloned().unwrap_or(Value::Null);
    let mut out = Vec::new();
    for name in names {
        let b = get(base, &name);
        let c = get(current, &name);
        let i = incoming.get(&name).cloned();
        let effective = i.clone().unwrap_or_else(|| c.clone());
        let changed = match base {
            None => "unknown",
            Some(_) => match (!same(&b, &c), i.as_ref().is_some_and(|i| !same(i, &b))) {
                (true, true) => "both",
                (true, false) => "current",
                (false, true) => "incoming",
                (false, false) => continue,
            },
        };
        if changed == "unknown" && same(&effective, &c) {
            continue;
        }
        out.push(FieldChange {
            label: crate::views::field_label(&name),
            field: name,
            base: b,
            current: c,
            incoming: i.unwrap_or(Value::Null),
            changed: changed.into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_says_which_side_moved_it_from_the_base() {
        let (in_progress, paused, signed_off) = (
            State::InProgress.as_str(),
            State::Paused.as_str(),
            State::SignedOff.as_str(),
        );
        let base = json!({"state": in_progress, "reason": "x"});
        let current = json!({"state": paused, "reason": "x"});
        let incoming = json!({"state": signed_off});
        let fields = field_changes(Some(&base), Some(&current), &incoming);
        assert_eq!(fields.len(), 1, "{fields:?}");
        assert_eq!(fields[0].field, "state");
        assert_eq!(fields[0].changed, "both");
        let incoming = json!({"reason": "y"});
        let fields = field_changes(Some(&base), Some(&current), &incoming);
        let mut by: Vec<(&str, &str)> = fields
            .iter()
            .map(|f| (f.field.as_str(), f.changed.as_str()))
            .collect();
        by.sort();
        assert_eq!(by, vec![("reason", "incoming"), ("state", "current")]);
        // One amount written two ways is not a change.
        let fields = field_changes(
            Some(&json!({"total": 180.0})),
            Some(&json!({"total": 180})),
            &json!({"total": 180}),
        );
        assert!(fields.is_empty(), "{fields:?}");
    }
}
