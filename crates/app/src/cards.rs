//! Every job's card, kept in memory: the board of a large office (thousands of jobs, hundreds
//! of technicians) is read on every refresh of every screen that shows it, and building 5,000
//! cards from the cache on each read took seconds. The index is built once in a few bulk
//! queries (the jobs with their groups and outbox rows, the customers' names from one map) and
//! then kept right cheaply on each read:
//!
//! - it is never trusted blindly: each read compares what the cards depend on with what they
//!   were made from: the client in use (another person on the desk is another cache), its
//!   published status (a pull or a push's answer bumps the revision, a save moves the pending
//!   count, a failing lane changes the sync words of every waiting change), a mark of the review
//!   items (a pull can open or close one without bringing any record), the device list behind
//!   the owner column, and the clock (a change set aside until a time reads differently after
//!   it; "retrying in N minutes" counts down);
//! - when one of them moved, only the records the cache says may read differently are read
//!   again ([`fieldsync_client::cache::Cache::touched_since`]: written since the last read, with
//!   a change saved or settled since, or a change still waiting or held), in one bulk query, and
//!   only their cards are made again; a new device list remakes only the owners whose view
//!   moved, a renamed customer only its jobs.
//!
//! So a card whose sync state, owner or review changed is right on the very next read, with or
//! without the change notices ([`crate::live`]) that tell the screens to read: the index follows
//! the same signals the notices are made of, on the reader's side. Pages use it through
//! [`App::board_index`] (the board's list, the schedule board: cards, search text and slots; the
//! board's search). This file leans on `devices` for owners.

use chrono::{DateTime, Duration, Utc};
use fieldsync_client::client::RecordView;
use fieldsync_client::{ChangeState, SyncClient};
use fieldsync_core::wire::DeviceInfo;
use fieldsync_core::{Group, Owner, RecordId, RecordType, State};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::views::{level_of, shown_state, text, JobCard, OwnerView};
use crate::{App, AppError};

/// How far before its last read the index asks the cache what was written: a write stamps the
/// time it began (the cache's clock) and commits after waiting for the cache's one connection,
/// at most the pool's 30 s acquire timeout, so a write that was under way during a read is
/// still found at the next. Records written within this are read again at each refresh.
const MARGIN_SECONDS: i64 = 60;

/// The index: built on first use, kept until the signed-in person's client changes.
#[derive(Default)]
pub(crate) struct CardIndex {
    built: tokio::sync::Mutex<Option<Built>>,
}

/// A read of the index: every card, newest first, and beside each the text the search looks in
/// (lower case: number, customer, site, summary, owner's name and user name).
#[derive(Clone)]
pub(crate) struct Cards {
    pub(crate) cards: Arc<Vec<JobCard>>,
    pub(crate) search: Arc<Vec<String>>,
    /// Where each card sits in time and whose it is, beside it, for the schedule board.
    pub(crate) slots: Arc<Vec<Slot>>,
}

/// A job's place on the schedule board: its window, the versions a move is made on, its owner.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) window_start: Option<String>,
    pub(crate) window_end: Option<String>,
    pub(crate) schedule_version: i64,
    pub(crate) owner_epoch: i64,
    pub(crate) owner: Owner,
    pub(crate) read_only: bool,
}

/// What of the client's published status the cards depend on.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    user: Option<String>,
    revision: u64,
    pending: (u64, u64),
    failures: (u32, u32),
    failing_next: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    reachable: bool,
    attention: u64,
}

impl Key {
    fn of(client: &SyncClient) -> Key {
        let status = client.subscribe().borrow().clone();
        let failing = |l: &fieldsync_client::LaneStatus| l.next_attempt.filter(|_| l.failures > 0);
        Key {
            user: client.user().map(|u| u.name),
            revision: status.revision,
            pending: (status.changes.pending, status.files.pending),
            failures: (status.changes.failures, status.files.failures),
            failing_next: (failing(&status.changes), failing(&status.files)),
            reachable: status.server_reachable,
            attention: status.needs_attention,
        }
    }
}

/// What a job's card is made of, as this device shows the job; the owner's view, the customer's
/// name and "Needs review" are looked up when the card is made.
#[derive(Debug, Clone)]
pub(crate) struct JobFacts {
    id: RecordId,
    number: Option<String>,
    customer_id: Option<String>,
    site: String,
    state: State,
    summary: String,
    window_start: Option<String>,
    window_end: Option<String>,
    schedule_version: i64,
    owner_epoch: i64,
    owner: Owner,
    sync: ChangeState,
    read_only: bool,
    created_at: DateTime<Utc>,
}

impl JobFacts {
    pub(crate) fn of(view: &RecordView) -> JobFacts {
        let schedule = view.values.get(&Group::Schedule).unwrap_or(&Value::Null);
        JobFacts {
            id: view.record.record_id,
            number: view.record.number.clone(),
            customer_id: text(schedule, "customer_id"),
            site: text(schedule, "site").unwrap_or_default(),
            state: shown_state(view),
            summary: view
                .values
                .get(&Group::Description)
                .and_then(|d| text(d, "summary"))
                .unwrap_or_default(),
            window_start: text(schedule, "window_start"),
            window_end: text(schedule, "window_end"),
            schedule_version: view.bases.get(&Group::Schedule).copied().unwrap_or(0),
            owner_epoch: view.record.owner_epoch,
            owner: view.record.owner.clone(),
            sync: view.state.clone(),
            read_only: view.record.read_only,
            created_at: view.record.created_at,
        }
    }

    pub(crate) fn customer_id(&self) -> Option<&str> {
        self.customer_id.as_deref()
    }

    fn slot(&self) -> Slot {
        Slot {
            window_start: self.window_start.clone().filter(|s| !s.is_empty()),
            window_end: self.window_end.clone().filter(|s| !s.is_empty()),
            schedule_version: self.schedule_version,
            owner_epoch: self.owner_epoch,
            owner: self.owner.clone(),
            read_only: self.read_only,
        }
    }

    /// The card, with the owner's view and the customer's name looked up by the caller.
    pub(crate) fn card(
        &self,
        customer: String,
        owner: OwnerView,
        under_review: &HashSet<String>,
        now: DateTime<Utc>,
    ) -> JobCard {
        let id = self.id.to_string();
        JobCard {
            needs_review: under_review.contains(&id),
            id,
            number: self.number.clone(),
            customer,
            site: self.site.clone(),
            state: self.state,
            summary: self.summary.clone(),
            window_start: self.window_start.clone(),
            owner,
            sync_label: self.sync.label(now),
            sync_level: level_of(&self.sync).into(),
            read_only: self.read_only,
        }
    }
}

/// The customer's name a card shows: its profile's name, or a dash.
pub(crate) fn customer_name_of(view: &RecordView) -> String {
    view.values
        .get(&Group::Profile)
        .and_then(|p| text(p, "name"))
        .unwrap_or_else(|| "—".into())
}

/// The lower-case text the board's search looks in.
fn search_text(card: &JobCard) -> String {
    format!(
        "{} {} {} {} {} {}",
        card.number.as_deref().unwrap_or_default(),
        card.customer,
        card.site,
        card.summary,
        card.owner.display_name,
        card.owner.name
    )
    .to_lowercase()
}

struct Built {
    client: SyncClient,
    key: Key,
    reviews: (i64, i64, i64),
    devices: Vec<DeviceInfo>,
    /// The cache's clock when the last read of the records began, and its outbox then.
    read_at: DateTime<Utc>,
    position: i64,
    /// The earliest time a card's sync state may change by the clock alone (a change set
    /// aside until then).
    expires: Option<DateTime<Utc>>,
    jobs: Vec<JobFacts>,
    at: HashMap<RecordId, usize>,
    customers: HashMap<String, String>,
    owners: HashMap<String, OwnerView>,
    under_review: HashSet<String>,
    /// The cards whose words count down with the clock ("retrying in N minutes").
    counting: Vec<usize>,
    labelled_at: DateTime<Utc>,
    cards: Cards,
}

impl Built {
    fn owner(&mut self, app: &App, owner: &Owner) -> OwnerView {
        self.owners
            .entry(owner.to_key())
            .or_insert_with(|| app.owner_view(owner))
            .clone()
    }

    fn customer(&self, id: Option<&str>) -> String {
        id.and_then(|id| self.customers.get(id))
            .cloned()
            .unwrap_or_else(|| "—".into())
    }

    /// Makes the cards of `which` again (all when none), and the search text beside them.
    fn remake(&mut self, app: &App, which: Option<&[usize]>, now: DateTime<Utc>) {
        let Some(which) = which else {
            let jobs = std::mem::take(&mut self.jobs);
            let (cards, search) = jobs
                .iter()
                .map(|job| {
                    let card = self.card_of(app, job, now);
                    let text = search_text(&card);
                    (card, text)
                })
                .unzip();
            let slots = jobs.iter().map(JobFacts::slot).collect();
            self.jobs = jobs;
            self.cards = Cards {
                cards: Arc::new(cards),
                search: Arc::new(search),
                slots: Arc::new(slots),
            };
            self.note_counting(now);
            return;
        };
        if which.is_empty() {
            return;
        }
        let made: Vec<(usize, JobCard, String, Slot)> = which
            .iter()
            .map(|&i| {
                let job = self.jobs[i].clone();
                let card = self.card_of(app, &job, now);
                let text = search_text(&card);
                (i, card, text, job.slot())
            })
            .collect();
        let cards = Arc::make_mut(&mut self.cards.cards);
        let search = Arc::make_mut(&mut self.cards.search);
        let slots = Arc::make_mut(&mut self.cards.slots);
        for (i, card, text, slot) in made {
            cards[i] = card;
            search[i] = text;
            slots[i] = slot;
        }
        self.note_counting(now);
    }

    fn card_of(&mut self, app: &App, job: &JobFacts, now: DateTime<Utc>) -> JobCard {
        let owner = self.owner(app, &job.owner);
        let customer = self.customer(job.customer_id());
        job.card(customer, owner, &self.under_review, now)
    }

    fn note_counting(&mut self, now: DateTime<Utc>) {
        self.counting = self
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| matches!(j.sync, ChangeState::SyncFailed { .. }))
            .map(|(i, _)| i)
            .collect();
        self.expires = self
            .jobs
            .iter()
            .filter_map(|j| match j.sync {
                ChangeState::SyncFailed { retry_at } if retry_at > now => Some(retry_at),
                _ => None,
            })
            .min();
        self.labelled_at = now;
    }

    /// Puts the jobs in the cache's order (newest first) and indexes them by id.
    fn order(&mut self) {
        self.jobs
            .sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        self.at = self
            .jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (j.id, i))
            .collect();
    }
}

/// The records of a type that may read differently since `since` and `position`, read again.
async fn read_touched(
    client: &SyncClient,
    record_type: RecordType,
    since: DateTime<Utc>,
    position: i64,
) -> Result<Vec<RecordView>, AppError> {
    let touched = client.records_touched(record_type, since, position).await?;
    if touched.is_empty() {
        return Ok(Vec::new());
    }
    Ok(client.records_in(record_type, &touched).await?)
}

impl App {
    /// Every job on this device as its card (owner with device health, status, sync state,
    /// "Needs review"), newest first, with the search text and the schedule slot beside each,
    /// right as of this call: from the in-memory index, which reads again from the cache only
    /// what changed since its last read (see this module). For every page that shows many jobs
    /// (the board's list, the schedule board): a read costs about a millisecond at 5,000 jobs
    /// when nothing changed, against seconds for reading the cards from the cache. The `Arc`s
    /// are shared with the index: clone what you keep.
    pub(crate) async fn board_index(&self) -> Result<Cards, AppError> {
        let client = self.active()?;
        let mut slot = self.cards.built.lock().await;
        // What the cards depend on, read before the records so that anything written after
        // this is found at the next read.
        let key = Key::of(&client);
        let reviews = client.cache().review_mark().await?;
        let devices = self
            .devices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let now = self.now();
        let stale = match slot.as_ref() {
            Some(b) if b.client.same_as(&client) && now >= b.read_at => {
                b.key != key || b.reviews != reviews || b.expires.is_some_and(|e| now >= e)
            }
            _ => {
                *slot = Some(
                    self.build(&client, key.clone(), reviews, devices.clone(), now)
                        .await?,
                );
                false
            }
        };
        let Some(built) = slot.as_mut() else {
            return Err(AppError::new("internal", "the board could not be read"));
        };
        if stale {
            self.refresh(&client, built, key, reviews, now).await?;
        }
        if built.devices != devices {
            // Only the owners whose view moved (a device's unsynced count, its last pull) have
            // their jobs' cards made again.
            built.devices = devices;
            let fresh: HashMap<String, OwnerView> = built
                .owners
                .keys()
                .filter_map(|key| Owner::from_key(key).map(|o| (key.clone(), self.owner_view(&o))))
                .collect();
            let moved: HashSet<String> = fresh
                .iter()
                .filter(|(key, view)| {
                    built
                        .owners
                        .get(*key)
                        .map(serde_json::to_value)
                        .and_then(Result::ok)
                        != serde_json::to_value(view).ok()
                })
                .map(|(key, _)| key.clone())
                .collect();
            built.owners = fresh;
            let which: Vec<usize> = built
                .jobs
                .iter()
                .enumerate()
                .filter(|(_, j)| moved.contains(&j.owner.to_key()))
                .map(|(i, _)| i)
                .collect();
            built.remake(self, Some(&which), now);
        }
        if !built.counting.is_empty() && built.labelled_at != now {
            let counting = built.counting.clone();
            let cards = Arc::make_mut(&mut built.cards.cards);
            for i in counting {
                cards[i].sync_label = built.jobs[i].sync.label(now);
            }
            built.labelled_at = now;
        }
        Ok(built.cards.clone())
    }

    /// The index from nothing: every job and customer in bulk.
    async fn build(
        &self,
        client: &SyncClient,
        key: Key,
        reviews: (i64, i64, i64),
        devices: Vec<DeviceInfo>,
        now: DateTime<Utc>,
    ) -> Result<Built, AppError> {
        let position = client.cache().last_position().await?;
        let jobs: Vec<JobFacts> = client
            .records(RecordType::Job)
            .await?
            .iter()
            .map(JobFacts::of)
            .collect();
        let customers = client
            .records(RecordType::Customer)
            .await?
            .iter()
            .map(|v| (v.record.record_id.to_string(), customer_name_of(v)))
            .collect();
        let under_review = self.under_review().await;
        let mut built = Built {
            client: client.clone(),
            key,
            reviews,
            devices,
            read_at: now,
            position,
            expires: None,
            jobs,
            at: HashMap::new(),
            customers,
            owners: HashMap::new(),
            under_review,
            counting: Vec::new(),
            labelled_at: now,
            cards: Cards {
                cards: Arc::new(Vec::new()),
                search: Arc::new(Vec::new()),
                slots: Arc::new(Vec::new()),
            },
        };
        built.order();
        built.remake(self, None, now);
        Ok(built)
    }

    /// Reads again what may have changed since the last read, and remakes those cards.
    async fn refresh(
        &self,
        client: &SyncClient,
        built: &mut Built,
        key: Key,
        reviews: (i64, i64, i64),
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let position = client.cache().last_position().await?;
        let since = built.read_at - Duration::seconds(MARGIN_SECONDS);
        let views = read_touched(client, RecordType::Job, since, built.position).await?;
        let customers = read_touched(client, RecordType::Customer, since, built.position).await?;
        let mut which: HashSet<usize> = HashSet::new();
        let mut added = false;
        for view in &views {
            let facts = JobFacts::of(view);
            match built.at.get(&facts.id) {
                Some(&i) => {
                    built.jobs[i] = facts;
                    which.insert(i);
                }
                None => {
                    built.jobs.push(facts);
                    added = true;
                }
            }
        }
        let mut renamed = HashSet::new();
        for view in &customers {
            let id = view.record.record_id.to_string();
            let name = customer_name_of(view);
            if built.customers.get(&id) != Some(&name) {
                built.customers.insert(id.clone(), name);
                renamed.insert(id);
            }
        }
        let review_moved = built.reviews != reviews;
        if review_moved {
            let now_under = self.under_review().await;
            for (i, job) in built.jobs.iter().enumerate() {
                let id = job.id.to_string();
                if now_under.contains(&id) != built.under_review.contains(&id) {
                    which.insert(i);
                }
            }
            built.under_review = now_under;
        }
        if !renamed.is_empty() {
            for (i, job) in built.jobs.iter().enumerate() {
                if job.customer_id().is_some_and(|c| renamed.contains(c)) {
                    which.insert(i);
                }
            }
        }
        built.key = key;
        built.reviews = reviews;
        built.read_at = now;
        built.position = position;
        if added {
            built.order();
            built.remake(self, None, now);
        } else {
            let which: Vec<usize> = which.into_iter().collect();
            built.remake(self, Some(&which), now);
        }
        Ok(())
    }
}
