//! The invariants, checked once the fleet has gone quiet: what the server's change log, its
//! review inbox, and every device's cache and outbox say, held against each other and against
//! the actions the simulation made.
//!
//! The server is read through its public store interface as the office would see it (a
//! supervisor's pull and histories, every role's inbox), never through its SQL.

use chrono::{DateTime, Utc};
use fieldsync_client::cache::OutboxRow;
use fieldsync_core::wire::{
    LogKind, OwnershipMove, PulledChange, ReviewItem, ReviewKind, ReviewParams,
};
use fieldsync_core::{
    Author, ChangeId, Group, Op, OutcomeStatus, Owner, Policy, PolicyKind, RecordId, RecordState,
    RecordType, Role, State,
};
use fieldsync_server::store::{DeviceReport, HistoryEntry};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use crate::fleet::{cached_records, short, tag_of, World};
use crate::Failure;

/// The server as the checker reads it.
struct Server {
    changes: Vec<PulledChange>,
    moves: Vec<OwnershipMove>,
    records: BTreeMap<RecordId, RecordState>,
    /// Every log entry of every record, by seq.
    entries: BTreeMap<i64, HistoryEntry>,
    by_change: BTreeMap<ChangeId, Vec<i64>>,
    reviews: BTreeMap<String, ReviewItem>,
}

fn fail(message: String) -> Failure {
    Failure::invariant(message)
}

/// Whether every field of `part` stands in `whole` with the same value (one level deep for a
/// create's groups).
fn contains(whole: &Value, part: &Value) -> bool {
    match (whole.as_object(), part.as_object()) {
        (Some(w), Some(p)) => p.iter().all(|(k, v)| match (w.get(k), v) {
            (Some(wv), Value::Object(_)) if wv.is_object() => contains(wv, v),
            (Some(wv), _) => wv == v,
            (None, _) => false,
        }),
        _ => whole == part,
    }
}

async fn read_server(world: &World, policy: &Policy) -> Result<Server, Failure> {
    let store = world
        .store
        .as_ref()
        .ok_or_else(|| fail("the server is down after settling".into()))?;
    let token_hash = fieldsync_server::auth::token_hash("sim-auditor");
    store
        .register_device("sam", "auditor", &token_hash, world.time.now())
        .await
        .map_err(|e| fail(format!("register the auditor: {e}")))?;
    let auditor = store
        .device_by_token(&token_hash)
        .await
        .map_err(|e| fail(format!("the auditor: {e}")))?
        .ok_or_else(|| fail("the auditor has no device".into()))?;
    let mut changes = Vec::new();
    let mut moves = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .pull(
                &auditor,
                after,
                1000,
                DeviceReport::default(),
                policy,
                world.time.now(),
            )
            .await
            .map_err(|e| fail(format!("pull as the office: {e}")))?;
        changes.extend(page.changes);
        moves.extend(page.ownership);
        if page.next <= after && !page.more {
            break;
        }
        after = page.next;
        if !page.more {
            break;
        }
    }
    let mut kinds: BTreeMap<RecordId, RecordType> = BTreeMap::new();
    for c in &changes {
        kinds.insert(c.record_id, c.record_type);
    }
    let mut records = BTreeMap::new();
    let mut entries = BTreeMap::new();
    let mut by_change: BTreeMap<ChangeId, Vec<i64>> = BTreeMap::new();
    for (id, t) in kinds {
        let history = store
            .history(&auditor.author, t, id)
            .await
            .map_err(|e| fail(format!("history of {t} {id}: {e}")))?;
        for entry in history.entries {
            if entries.contains_key(&entry.seq) {
                return Err(fail(format!("seq {} is in the log twice", entry.seq)));
            }
            by_change
                .entry(entry.change_id)
                .or_default()
                .push(entry.seq);
            entries.insert(entry.seq, entry);
        }
        records.insert(id, history.record);
    }
    let mut reviews = BTreeMap::new();
    for role in Role::ALL {
        let author = Author {
            user: "sim-auditor".into(),
            role,
            team: None,
        };
        // Every page of every role's inbox, resolved items included, as the office would page.
        let mut params = ReviewParams {
            all: true,
            limit: Some(100),
            before: None,
        };
        loop {
            let items = store
                .review_list(&author, policy, &params)
                .await
                .map_err(|e| fail(format!("review list: {e}")))?;
            let full = items.len() as i64 == params.limit.unwrap_or_default();
            params.before = items.last().map(ReviewItem::cursor);
            for item in items {
                reviews.insert(item.review_id.to_string(), item);
            }
            if !full {
                break;
            }
        }
    }
    Ok(Server {
        changes,
        moves,
        records,
        entries,
        by_change,
        reviews,
    })
}

pub async fn check(world: &World) -> Result<(), Failure> {
    let policy = Policy::default_policy();
    let server = read_server(world, &policy).await?;
    let mut outboxes: Vec<Vec<OutboxRow>> = Vec::new();
    for device in &world.devices {
        outboxes.push(
            device
                .client
                .cache()
                .history(1_000_000)
                .await
                .map_err(|e| fail(format!("{}: outbox: {e}", device.name)))?,
        );
    }
    no_change_twice(&server)?;
    versions_grow(&server)?;
    every_save_settled(world, &server, &outboxes)?;
    one_record_per_action(world, &server, &outboxes)?;
    review_complete(&server, &policy)?;
    no_change_under_review_or_lock(&server, &policy)?;
    caches_converge(world, &server).await?;
    let before = values_before(&server);
    forms_saved_what_they_saw(world, &server, &policy, &before, &outboxes)?;
    resolves_as_shown(world, &server, &before)?;
    screens_agree_with_cache(world).await?;
    Ok(())
}

/// Each log entry's group as it stood just before it (version, values, and who made that
/// version), by seq, walking the applied entries in order: what a person's form or card is held
/// against.
type Before = BTreeMap<i64, (i64, Option<Value>, String)>;

fn values_before(server: &Server) -> Before {
    let mut standing: BTreeMap<(RecordId, Group), (i64, Value, String)> = BTreeMap::new();
    let mut before = BTreeMap::new();
    for entry in server.entries.values() {
        if let Some(group) = entry.group {
            let (version, values, author) = standing
                .get(&(entry.record_id, group))
                .cloned()
                .map_or((0, None, String::new()), |(v, vals, a)| (v, Some(vals), a));
            before.insert(entry.seq, (version, values, author));
        }
        if entry.outcome.status != OutcomeStatus::Applied {
            continue;
        }
        match (entry.op, entry.group) {
            (Op::Create, _) => {
                for (g, v) in entry.values.as_object().into_iter().flatten() {
                    if let Some(g) = Group::parse(g) {
                        standing.insert((entry.record_id, g), (1, v.clone(), entry.author.clone()));
                    }
                }
                if let Some(record) = server.records.get(&entry.record_id) {
                    for g in record.record_type.groups() {
                        standing.entry((entry.record_id, *g)).or_insert((
                            1,
                            Value::Object(Default::default()),
                            entry.author.clone(),
                        ));
                    }
                }
            }
            (_, Some(g)) => {
                let version = entry.outcome.version.unwrap_or_default();
                let version = version.max(standing.get(&(entry.record_id, g)).map_or(0, |s| s.0));
                standing.insert(
                    (entry.record_id, g),
                    (version, entry.values.clone(), entry.author.clone()),
                );
            }
            _ => {}
        }
    }
    before
}

/// A form saves what its person saw (issue 11). In a manual-review group, every edit made in the
/// office app and applied was applied over a version its form showed (from the server's version
/// the device had confirmed when the form opened, to that plus the device's own queued changes),
/// or over one its author made themselves, or changed nothing that stood: a value its author did
/// not see is never overwritten without a review. In every group, an applied edit changed only
/// the fields the person typed; the others stand as they were.
fn forms_saved_what_they_saw(
    world: &World,
    server: &Server,
    policy: &Policy,
    before: &Before,
    outboxes: &[Vec<OutboxRow>],
) -> Result<(), Failure> {
    for save in &world.app_saves {
        let Some(entry) = server
            .by_change
            .get(&save.change_id)
            .and_then(|s| s.first())
            .and_then(|seq| server.entries.get(seq))
        else {
            continue;
        };
        if entry.outcome.status != OutcomeStatus::Applied {
            continue;
        }
        let what = format!(
            "{}: the {} {} {} form opened at v{} (v{} confirmed) (change {}, seq {})",
            world.devices[save.device].name,
            save.record_type,
            short(save.record_id),
            save.group,
            save.seen,
            save.confirmed,
            save.change_id,
            entry.seq
        );
        let Some((stood, old, made_by)) = before.get(&entry.seq).cloned() else {
            continue;
        };
        let seen = (save.confirmed..=save.seen).contains(&stood)
            || made_by == world.devices[save.device].user;
        let manual = policy
            .rule(save.record_type, save.group)
            .is_some_and(|r| r.policy == PolicyKind::ManualReview);
        let unchanged = old.as_ref() == Some(&entry.values);
        if manual && !seen && !unchanged {
            return Err(fail(format!(
                "{what} was applied over v{stood} (by {made_by}), a version its author never saw, without a review (sent on v{}, made v{}): {} became {}",
                entry.base_version,
                entry.outcome.version.unwrap_or(-1),
                old.unwrap_or(Value::Null),
                entry.values
            )));
        }
        let typed = outboxes[save.device]
            .iter()
            .find(|r| r.change.change_id == save.change_id)
            .map(|r| r.change.values.clone());
        if let (Some(Value::Object(typed)), Some(Value::Object(old)), Value::Object(now)) =
            (typed, old, &entry.values)
        {
            for (field, value) in now {
                let expected = typed.get(field).or(old.get(field));
                if expected != Some(value) {
                    return Err(fail(format!(
                        "{what} set {field} to {value}, which the person did not type (it was {:?})",
                        old.get(field)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A resolution applies the picture its card showed (issue 11): every choice the office app said
/// was done was made while the group stood at the current version its card showed. A card whose
/// group had moved on must have been refused (`changed_since_seen`), never applied.
fn resolves_as_shown(world: &World, server: &Server, before: &Before) -> Result<(), Failure> {
    let by_time: BTreeMap<(RecordId, DateTime<Utc>), i64> = server
        .entries
        .values()
        .filter(|e| e.kind == LogKind::Resolution)
        .map(|e| ((e.record_id, e.server_time), e.seq))
        .collect();
    for resolve in &world.app_resolves {
        let (Some(shown), Some(_), Ok(())) = (resolve.shown, resolve.group, &resolve.answer) else {
            continue;
        };
        let what = format!(
            "{}: a choice on the card of {} ({}) that showed v{shown}",
            world.devices[resolve.device].name,
            short(resolve.record_id),
            resolve.group.map(|g| g.as_str()).unwrap_or("-"),
        );
        let item = server
            .reviews
            .get(&resolve.review_id)
            .ok_or_else(|| fail(format!("{what} was done, but its item is not in the inbox")))?;
        let seq = item
            .resolved_at
            .and_then(|at| by_time.get(&(item.record_id, at)))
            .ok_or_else(|| fail(format!("{what} was done, but no resolution is in the log")))?;
        let stood = before.get(seq).map(|b| b.0).unwrap_or_default();
        if stood != shown {
            return Err(fail(format!(
                "{what} was applied at seq {seq} on v{stood}: a version other than the one shown"
            )));
        }
    }
    Ok(())
}

/// No screen contradicts the cache at quiet (issue 11): on every office desk, each board row's
/// state is the job panel's and the cached record's; each review card's current version is the
/// cached group's; and the banner says "Synced", with nothing waiting and the server reached.
async fn screens_agree_with_cache(world: &World) -> Result<(), Failure> {
    use fieldsync_app::bridge::dispatch;
    for device in &world.devices {
        let Some(app) = &device.app else { continue };
        let name = &device.name;
        let call = |command: &'static str, args: Value| async move {
            dispatch(app, command, args)
                .await
                .map_err(|e| fail(format!("{name}: the app's `{command}` at quiet: {e}")))
        };
        let banner = call("sync_status", Value::Null).await?;
        let text = banner["text"].as_str().unwrap_or_default();
        if !text.starts_with("Synced")
            || banner["changes_pending"].as_i64() != Some(0)
            || banner["files_pending"].as_i64() != Some(0)
            || banner["server_reachable"].as_bool() != Some(true)
        {
            return Err(fail(format!(
                "{name}: the banner at quiet (outbox empty, server reached) says {banner}"
            )));
        }
        let board = call("board", serde_json::json!({})).await?;
        for row in board.as_array().into_iter().flatten() {
            let id = row["id"].as_str().unwrap_or_default().to_string();
            let record_id: RecordId = id
                .parse()
                .map_err(|_| fail(format!("{name}: a board row without an id: {row}")))?;
            let cached = device
                .client
                .cache()
                .record(record_id)
                .await
                .map_err(|e| fail(format!("{name}: cache: {e}")))?
                .ok_or_else(|| fail(format!("{name}: board row {id} is not in the cache")))?;
            let panel = call("job", serde_json::json!({"job_id": id})).await?;
            let cache_state = serde_json::to_value(cached.state).unwrap_or_default();
            if row["state"] != cache_state || panel["card"]["state"] != cache_state {
                return Err(fail(format!(
                    "{name}: job {} ({}) shows {} on the board and {} on its panel; the cache has {cache_state}",
                    short(record_id),
                    cached.number.clone().unwrap_or_default(),
                    row["state"],
                    panel["card"]["state"]
                )));
            }
            let (Owner::User(owner) | Owner::Team(owner)) = &cached.owner;
            if row["owner"]["name"].as_str() != Some(owner.as_str()) {
                return Err(fail(format!(
                    "{name}: job {} shows owner {} on the board; the cache has {}",
                    short(record_id),
                    row["owner"]["name"],
                    cached.owner
                )));
            }
        }
        let cards = call("inbox", Value::Null).await?;
        for card in cards.as_array().into_iter().flatten() {
            let (Some(id), Some(group), Some(version)) = (
                card["record_id"]
                    .as_str()
                    .and_then(|s| s.parse::<RecordId>().ok()),
                card["group"].as_str().and_then(Group::parse),
                card["current"]["version"].as_i64(),
            ) else {
                continue;
            };
            let cached = device
                .client
                .cache()
                .record(id)
                .await
                .map_err(|e| fail(format!("{name}: cache: {e}")))?;
            let Some((cached_version, _)) = cached.as_ref().and_then(|c| c.groups.get(&group))
            else {
                continue;
            };
            if *cached_version != version {
                return Err(fail(format!(
                    "{name}: a review card on {} ({group}) shows current v{version}; the cache has v{cached_version}",
                    short(id)
                )));
            }
        }
    }
    Ok(())
}

/// No change id is in the log twice: nothing was applied (or judged) twice.
fn no_change_twice(server: &Server) -> Result<(), Failure> {
    for (id, seqs) in &server.by_change {
        if seqs.len() > 1 {
            return Err(fail(format!(
                "change {id} is in the log {} times (seqs {seqs:?})",
                seqs.len()
            )));
        }
    }
    let mut creates: BTreeMap<RecordId, usize> = BTreeMap::new();
    for c in &server.changes {
        if c.op == Op::Create {
            *creates.entry(c.record_id).or_default() += 1;
        }
    }
    if let Some((id, n)) = creates.iter().find(|(_, n)| **n > 1) {
        return Err(fail(format!("record {id} was created {n} times")));
    }
    Ok(())
}

/// Sequences grow with the log; a group's version never goes back along it and each applied
/// change makes exactly the next version; ownership epochs grow with each move; every record
/// stands at the versions its log ends with.
fn versions_grow(server: &Server) -> Result<(), Failure> {
    let mut last_seq = 0;
    for c in &server.changes {
        if c.seq <= last_seq {
            return Err(fail(format!("pull gave seq {} after {last_seq}", c.seq)));
        }
        last_seq = c.seq;
    }
    let mut versions: BTreeMap<(RecordId, Group), i64> = BTreeMap::new();
    for entry in server.entries.values() {
        if entry.outcome.status != OutcomeStatus::Applied {
            continue;
        }
        let Some(record) = server.records.get(&entry.record_id) else {
            continue;
        };
        if entry.op == Op::Create {
            for group in record.record_type.groups() {
                versions.insert((entry.record_id, *group), 1);
            }
            continue;
        }
        let Some(group) = entry.group else { continue };
        let version = entry.outcome.version.unwrap_or_default();
        let before = versions
            .get(&(entry.record_id, group))
            .copied()
            .unwrap_or(0);
        let ok = match entry.kind.as_str() {
            "change" | "reopen" => version == before + 1,
            // A job's part lines and inspections move with it, at the version they stand at.
            "reassign" if entry.record_type != RecordType::Job => version == before,
            "reassign" => version == before + 1,
            _ => version >= before,
        };
        if !ok {
            return Err(fail(format!(
                "{} {}.{group}: {} entry at seq {} made version {version} after {before}",
                entry.record_type,
                short(entry.record_id),
                entry.kind,
                entry.seq
            )));
        }
        versions.insert((entry.record_id, group), version);
    }
    for (id, record) in &server.records {
        for (group, state) in &record.groups {
            let logged = versions.get(&(*id, *group)).copied().unwrap_or(0);
            if logged != state.version {
                return Err(fail(format!(
                    "{} {}.{group} stands at version {} but its log ends at {logged}",
                    record.record_type,
                    short(*id),
                    state.version
                )));
            }
        }
    }
    let mut epochs: BTreeMap<RecordId, i64> = BTreeMap::new();
    for m in &server.moves {
        let before = epochs.insert(m.record_id, m.owner_epoch).unwrap_or(1);
        if m.owner_epoch <= before {
            return Err(fail(format!(
                "ownership of {} moved to epoch {} after {before}",
                short(m.record_id),
                m.owner_epoch
            )));
        }
    }
    for (id, epoch) in &epochs {
        if let Some(record) = server.records.get(id) {
            if record.owner_epoch != *epoch {
                return Err(fail(format!(
                    "{} is at epoch {} but its last move says {epoch}",
                    short(*id),
                    record.owner_epoch
                )));
            }
        }
    }
    Ok(())
}

/// Every change saved on a device is still there and settled, the server agrees on how, and its
/// values are in a history (the log, the inbox, or the device's own for a refusal).
fn every_save_settled(
    world: &World,
    server: &Server,
    outboxes: &[Vec<OutboxRow>],
) -> Result<(), Failure> {
    let saves = world
        .saves
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for saved in &saves {
        if !outboxes[saved.device]
            .iter()
            .any(|r| r.change.change_id == saved.change_id)
        {
            return Err(fail(format!(
                "{}: the saved change {} ({} {}) is gone from its outbox",
                world.devices[saved.device].name,
                saved.change_id,
                saved.op.as_str(),
                saved.record_type
            )));
        }
    }
    let reviews_by_change: BTreeMap<ChangeId, &ReviewItem> =
        server.reviews.values().map(|i| (i.change_id, i)).collect();
    for (d, rows) in outboxes.iter().enumerate() {
        let name = &world.devices[d].name;
        for row in rows {
            let c = &row.change;
            let what = format!(
                "{name}: {} {} {} ({})",
                c.op.as_str(),
                c.record_type,
                short(c.record_id),
                c.change_id
            );
            let entry = server
                .by_change
                .get(&c.change_id)
                .and_then(|s| s.first())
                .and_then(|seq| server.entries.get(seq));
            match row.state.as_str() {
                "synced" => {
                    let Some(entry) = entry else {
                        return Err(fail(format!(
                            "{what} shows Synced but the server has no such change"
                        )));
                    };
                    if entry.outcome.status != OutcomeStatus::Applied {
                        return Err(fail(format!(
                            "{what} shows Synced but the server {} it",
                            entry.outcome.status.as_str()
                        )));
                    }
                    let values_kept = match c.op {
                        Op::Create => contains(&entry.values, &c.values),
                        Op::Void => c
                            .values
                            .get("reason")
                            .is_none_or(|r| entry.values.get("reason") == Some(r)),
                        Op::Update => contains(&entry.values, &c.values),
                    };
                    if !values_kept {
                        return Err(fail(format!(
                            "{what}: its values {} are not in the log's {}",
                            c.values, entry.values
                        )));
                    }
                }
                "held" => {
                    if let Some(entry) = entry {
                        if entry.outcome.status != OutcomeStatus::Held {
                            return Err(fail(format!(
                                "{what} shows held but the server {} it",
                                entry.outcome.status.as_str()
                            )));
                        }
                    }
                    let Some(item) = reviews_by_change.get(&c.change_id) else {
                        return Err(fail(format!(
                            "{what} is held but no review item carries it"
                        )));
                    };
                    if item.incoming.values != c.values {
                        return Err(fail(format!(
                            "{what}: the review item's incoming values {} are not the change's {}",
                            item.incoming.values, c.values
                        )));
                    }
                    if row.review_id.as_deref() != Some(item.review_id.to_string().as_str()) {
                        return Err(fail(format!(
                            "{what}: the device names another review item than the server"
                        )));
                    }
                }
                "rejected" => {
                    if let Some(entry) = entry {
                        if entry.outcome.status != OutcomeStatus::Rejected {
                            return Err(fail(format!(
                                "{what} shows rejected but the server {} it",
                                entry.outcome.status.as_str()
                            )));
                        }
                    }
                }
                other => {
                    return Err(fail(format!(
                        "{what} is still {other} after the fleet settled"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// One user action makes at most one record: no two applied creates carry one action's tag, and
/// an action whose device shows Synced made exactly its own record.
fn one_record_per_action(
    world: &World,
    server: &Server,
    outboxes: &[Vec<OutboxRow>],
) -> Result<(), Failure> {
    let mut by_tag: BTreeMap<String, Vec<RecordId>> = BTreeMap::new();
    for entry in server.entries.values() {
        if entry.op == Op::Create && entry.outcome.status == OutcomeStatus::Applied {
            if let Some(tag) = tag_of(&entry.values) {
                by_tag.entry(tag).or_default().push(entry.record_id);
            }
        }
    }
    if let Some((tag, ids)) = by_tag.iter().find(|(_, ids)| ids.len() > 1) {
        return Err(fail(format!(
            "the action {tag} made {} records: {ids:?}",
            ids.len()
        )));
    }
    let saves = world
        .saves
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for saved in saves.iter().filter(|s| s.op == Op::Create) {
        let Some(tag) = &saved.tag else { continue };
        let synced = outboxes[saved.device]
            .iter()
            .any(|r| r.change.change_id == saved.change_id && r.state == "synced");
        let made = by_tag.get(tag).cloned().unwrap_or_default();
        if synced && made != vec![saved.record_id] {
            return Err(fail(format!(
                "the action {tag} shows Synced on {} but made {made:?}, not {}",
                world.devices[saved.device].name, saved.record_id
            )));
        }
    }
    Ok(())
}

/// Every held change is in the inbox under the id its outcome names; a group is contested
/// exactly while a conflict on it is open.
fn review_complete(server: &Server, policy: &Policy) -> Result<(), Failure> {
    for entry in server.entries.values() {
        if entry.outcome.status != OutcomeStatus::Held {
            continue;
        }
        let id = entry
            .outcome
            .review_id
            .map(|r| r.to_string())
            .unwrap_or_default();
        match server.reviews.get(&id) {
            Some(item) if item.change_id == entry.change_id => {}
            _ => {
                return Err(fail(format!(
                    "held change {} on {} {} is not in the review inbox",
                    entry.change_id,
                    entry.record_type,
                    short(entry.record_id)
                )))
            }
        }
    }
    let manual = |t: RecordType, g: Group| {
        policy
            .rule(t, g)
            .is_some_and(|r| r.policy == PolicyKind::ManualReview)
    };
    let mut open: BTreeSet<(RecordId, Group)> = BTreeSet::new();
    for item in server.reviews.values() {
        if item.kind == ReviewKind::Conflict && item.state == "open" {
            if let Some(g) = item.group.filter(|g| manual(item.record_type, *g)) {
                open.insert((item.record_id, g));
            }
        }
    }
    for (id, record) in &server.records {
        for (group, state) in &record.groups {
            let listed = open.contains(&(*id, *group));
            if state.contested != listed {
                return Err(fail(format!(
                    "{} {}.{group} is {} but {} conflict on it is open in the inbox",
                    record.record_type,
                    short(*id),
                    if state.contested {
                        "contested"
                    } else {
                        "not contested"
                    },
                    if listed { "a" } else { "no" }
                )));
            }
        }
    }
    Ok(())
}

/// A conflict's life in the log: the seq of the held change that opened it, and of the
/// resolution that closed it, if any.
type OpenSpan = (i64, Option<i64>);

/// Walking the log in seq order: no device's change touched a manual-review group while a
/// conflict on it was open, and none touched a group (or added to a job) while it was locked.
/// Only a resolution or a reopen (the server's own entries) may.
fn no_change_under_review_or_lock(server: &Server, policy: &Policy) -> Result<(), Failure> {
    // When each conflict opened and closed, in seqs. Every server reading is a distinct time
    // (see `net::ServerClock`), so a resolution's log entry is the one at its `resolved_at`.
    let mut intervals: BTreeMap<(RecordId, Group), Vec<OpenSpan>> = BTreeMap::new();
    let by_time: BTreeMap<(RecordId, DateTime<Utc>), i64> = server
        .entries
        .values()
        .filter(|e| e.kind == LogKind::Resolution)
        .map(|e| ((e.record_id, e.server_time), e.seq))
        .collect();
    for item in server.reviews.values() {
        if item.kind != ReviewKind::Conflict {
            continue;
        }
        let Some(group) = item.group else { continue };
        if !policy
            .rule(item.record_type, group)
            .is_some_and(|r| r.policy == PolicyKind::ManualReview)
        {
            continue;
        }
        let Some(opened) = server
            .by_change
            .get(&item.change_id)
            .and_then(|s| s.first())
        else {
            return Err(fail(format!(
                "conflict {} has no held change in the log",
                item.review_id
            )));
        };
        let closed = match item.resolved_at {
            Some(at) => Some(*by_time.get(&(item.record_id, at)).ok_or_else(|| {
                fail(format!(
                    "conflict {} on {} was resolved with no resolution in the log",
                    item.review_id,
                    short(item.record_id)
                ))
            })?),
            None => None,
        };
        intervals
            .entry((item.record_id, group))
            .or_default()
            .push((*opened, closed));
    }
    let states: BTreeMap<ChangeId, State> = server
        .changes
        .iter()
        .map(|c| (c.change_id, c.state))
        .collect();
    let mut state: BTreeMap<RecordId, State> = BTreeMap::new();
    let mut job_of: BTreeMap<RecordId, RecordId> = BTreeMap::new();
    // Each group's values as the log last left them.
    let mut values: BTreeMap<(RecordId, Group), Value> = BTreeMap::new();
    for entry in server.entries.values() {
        if entry.outcome.status != OutcomeStatus::Applied {
            continue;
        }
        let t = entry.record_type;
        let what = || {
            format!(
                "{} {} at seq {} ({} by {})",
                t,
                short(entry.record_id),
                entry.seq,
                entry.op.as_str(),
                entry.author
            )
        };
        if entry.kind == LogKind::Change {
            if let Some(first) = t.groups().first() {
                if t.is_job_child() {
                    let job = entry
                        .values
                        .get(first.as_str())
                        .or(Some(&entry.values))
                        .and_then(|v| v.get("job_id"))
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse::<RecordId>().ok());
                    if let Some(job) = job {
                        job_of.entry(entry.record_id).or_insert(job);
                    }
                    let parent_state = job_of.get(&entry.record_id).and_then(|j| state.get(j));
                    if let (Some(rule), Some(parent_state)) = (policy.rule(t, *first), parent_state)
                    {
                        if rule.locked_in.contains(parent_state) {
                            return Err(fail(format!(
                                "{} went in while its job was {parent_state}",
                                what()
                            )));
                        }
                    }
                }
            }
            if entry.op != Op::Create {
                let group = entry.group.or_else(|| t.groups().first().copied());
                if let Some(group) = group {
                    let before = state
                        .get(&entry.record_id)
                        .copied()
                        .unwrap_or_else(|| t.initial_state());
                    let archive_of_closed = entry.op == Op::Void
                        && before == State::Closed
                        && entry
                            .values
                            .get("state")
                            .and_then(Value::as_str)
                            .and_then(State::parse)
                            == Some(State::Archived);
                    if let Some(rule) = policy.rule(t, group) {
                        if rule.locked_in.contains(&before) && !archive_of_closed {
                            return Err(fail(format!(
                                "{} changed {group} while the record was {before}",
                                what()
                            )));
                        }
                        if rule.policy == PolicyKind::ManualReview {
                            let contested =
                                intervals
                                    .get(&(entry.record_id, group))
                                    .is_some_and(|spans| {
                                        spans.iter().any(|(open, close)| {
                                            *open < entry.seq && close.is_none_or(|c| c > entry.seq)
                                        })
                                    });
                            if contested {
                                return Err(fail(format!(
                                    "{} changed {group} while a conflict on it was open",
                                    what()
                                )));
                            }
                            // A collision (made on an older version, changing what stands) is
                            // never applied: it goes to review.
                            let made_on = entry.outcome.version.unwrap_or_default() - 1;
                            let agrees =
                                values.get(&(entry.record_id, group)) == Some(&entry.values);
                            if entry.base_version != made_on && !agrees {
                                return Err(fail(format!(
                                    "{} was made on {group} v{} but applied over v{made_on}: a collision not sent to review",
                                    what(),
                                    entry.base_version
                                )));
                            }
                        }
                    }
                }
            }
        }
        if let Some(s) = states.get(&entry.change_id) {
            state.insert(entry.record_id, *s);
        }
        match (entry.op, entry.group) {
            (Op::Create, _) => {
                if let Some(groups) = entry.values.as_object() {
                    for (g, v) in groups {
                        if let Some(g) = Group::parse(g) {
                            values.insert((entry.record_id, g), v.clone());
                        }
                    }
                }
            }
            (_, Some(g)) => {
                values.insert((entry.record_id, g), entry.values.clone());
            }
            _ => {}
        }
    }
    Ok(())
}

/// Every device's cache holds what the server holds in its scope, at the same versions.
async fn caches_converge(world: &World, server: &Server) -> Result<(), Failure> {
    for device in &world.devices {
        let cached: BTreeMap<RecordId, _> = cached_records(&device.client)
            .await
            .map_err(|e| fail(format!("{}: cache: {e}", device.name)))?
            .into_iter()
            .map(|r| (r.record_id, r))
            .collect();
        let me = Owner::User(device.user.clone());
        let team = Owner::Team("north".into());
        let everything = device.role.sees_everything();
        let my_jobs: BTreeSet<RecordId> = server
            .records
            .values()
            .filter(|r| {
                r.record_type == RecordType::Job
                    && (r.owner == me || (device.role == Role::Technician && r.owner == team))
            })
            .map(|r| r.record_id)
            .collect();
        let my_customers: BTreeSet<String> = my_jobs
            .iter()
            .filter_map(|j| server.records.get(j))
            .filter_map(|j| j.groups.get(&Group::Schedule))
            .filter_map(|s| {
                s.values
                    .get("customer_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        for record in server.records.values() {
            let t = record.record_type;
            let in_scope = everything
                || match t {
                    RecordType::Job => my_jobs.contains(&record.record_id),
                    RecordType::Customer => my_customers.contains(&record.record_id.to_string()),
                    _ if t.is_job_child() => t
                        .groups()
                        .first()
                        .and_then(|g| record.groups.get(g))
                        .and_then(|g| g.values.get("job_id"))
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse::<RecordId>().ok())
                        .is_some_and(|j| my_jobs.contains(&j)),
                    _ => false,
                };
            if !in_scope {
                continue;
            }
            let what = format!(
                "{}: {} {} ({})",
                device.name,
                t,
                short(record.record_id),
                record.number.clone().unwrap_or_default()
            );
            let Some(mine) = cached.get(&record.record_id) else {
                return Err(fail(format!(
                    "{what} is on the server in its scope but not in its cache"
                )));
            };
            if mine.number != record.number
                || mine.owner != record.owner
                || mine.owner_epoch != record.owner_epoch
                || mine.state != record.state
            {
                return Err(fail(format!(
                    "{what}: cache has number {:?} owner {} epoch {} state {}; server {:?} {} {} {}",
                    mine.number, mine.owner, mine.owner_epoch, mine.state, record.number, record.owner, record.owner_epoch, record.state
                )));
            }
            for (group, state) in &record.groups {
                match mine.groups.get(group) {
                    Some((version, values))
                        if *version == state.version && *values == state.values => {}
                    Some((version, values)) => {
                        return Err(fail(format!(
                            "{what}.{group}: cache has v{version} {values}; server v{} {}",
                            state.version, state.values
                        )))
                    }
                    None => {
                        return Err(fail(format!(
                            "{what}.{group}: not in the cache; server v{}",
                            state.version
                        )))
                    }
                }
            }
        }
    }
    Ok(())
}
