//! Apps killed inside their own local transactions, not only at network calls.
//!
//! A kill at a network call (see `net::KillPlan`) finds the client between two statements. The
//! riskier moment is inside a transaction of the cache: a save writing its outbox row and its
//! record, a pull folding a page and moving the cursor with it. Here the client's future is
//! dropped at one of its await points, as a process killed there would stop: sqlx rolls back
//! the transaction the future held, and the app is started again over the same cache file.
//! What must hold: nothing saved before is lost or doubled, and a page is folded whole or not
//! at all (the cursor never moves without its changes).
//!
//! Which await point the kill lands on is counted in the future's own waits, so it depends on
//! how quickly SQLite's worker thread answers: whether the killed save or fold committed is not
//! the seed's to decide. The run stays a replay all the same, because the person (or the next
//! round) then does what makes both outcomes one: the form is sent again with its action id (one
//! change either way), a page that was not folded is folded again, and the trace says only what
//! is the same in both.

use fieldsync_client::cache::OutboxRow;
use fieldsync_client::{NewChange, Transport};
use fieldsync_core::{ChangeId, Owner};
use rand::Rng;
use std::future::Future;
use std::task::Poll;

use crate::fleet::{cached_records, short, World};
use crate::net::SimTransport;
use crate::Failure;

/// Polls `fut` until it finishes (`Some`) or has waited `waits` times; then drops it where it
/// stands (`None`): the app dying at that await point.
pub async fn cut_after<F: Future>(fut: F, waits: u32) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut left = waits;
    std::future::poll_fn(move |cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending if left == 0 => Poll::Ready(None),
        Poll::Pending => {
            left -= 1;
            Poll::Pending
        }
    })
    .await
}

fn fail(message: String) -> Failure {
    Failure::invariant(message)
}

impl World {
    async fn outbox(&self, d: usize) -> Result<Vec<OutboxRow>, Failure> {
        let device = &self.devices[d];
        device
            .client
            .cache()
            .history(1_000_000)
            .await
            .map_err(|e| fail(format!("{}: outbox: {e}", device.name)))
    }

    /// A save killed inside its transaction; the app restarts; the person sends the form again.
    pub(crate) async fn save_killed(
        &mut self,
        d: usize,
        mut change: NewChange,
        what: &str,
    ) -> Result<(), Failure> {
        let client = self.devices[d].client.clone();
        let name = self.devices[d].name.clone();
        let change_id = *change
            .change_id
            .get_or_insert_with(|| client.new_change_id());
        let before = self.outbox(d).await?;
        let waits = self.rng.gen_range(0..6);
        let _ = cut_after(client.save(change.clone()), waits).await;
        drop(client);
        self.counts.app_kills += 1;
        self.counts.kills_in_transactions += 1;
        self.note(format!(
            "{name}: {what}: the app is killed inside the save of {} {} {}",
            change.op.as_str(),
            change.record_type,
            short(change.record_id)
        ));
        self.restart_app(d, "killed inside a save").await?;
        let after = self.outbox(d).await?;
        nothing_lost_or_doubled(&name, &before, &after, Some(change_id))?;
        // The person opens the form again and sends it: the same action id, so it is one
        // change whether or not the killed save had committed.
        let result =
            crate::fleet::record_save(&self.devices[d].client.clone(), &self.saves, d, change)
                .await;
        let again = self.outbox(d).await?;
        let rows = again
            .iter()
            .filter(|r| r.change.change_id == change_id)
            .count();
        if rows != 1 && !result.starts_with("refused") {
            return Err(fail(format!(
                "{name}: the form sent again after a kill inside its save is in the outbox {rows} times"
            )));
        }
        nothing_lost_or_doubled(&name, &before, &again, Some(change_id))?;
        self.note(format!(
            "{name}: reopened, nothing saved lost or doubled; the form sent again {}",
            if result.starts_with("refused") {
                "is refused"
            } else {
                "is one change"
            }
        ));
        Ok(())
    }

    /// A pull page fetched as the round would, then the app killed while folding it in; on
    /// restart the cache holds the page whole or not at all, and the page is folded again if not.
    pub(crate) async fn fold_killed(&mut self, d: usize) -> Result<(), Failure> {
        let client = self.devices[d].client.clone();
        let name = self.devices[d].name.clone();
        let cache = client.cache();
        let meta = |key: &'static str| {
            let name = name.clone();
            async move {
                cache
                    .meta(key)
                    .await
                    .map_err(|e| fail(format!("{name}: cache: {e}")))
            }
        };
        let Some(token) = meta("token").await?.filter(|t| !t.is_empty()) else {
            return Ok(());
        };
        let cursor: i64 = meta("cursor")
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let name = self.devices[d].name.clone();
        let (changes, _, oldest) = cache
            .depth()
            .await
            .map_err(|e| fail(format!("{name}: cache: {e}")))?;
        let transport = SimTransport {
            net: self.net.clone(),
            line: self.devices[d].line,
        };
        let page = transport.pull(&token, cursor, 1000, changes, oldest).await;
        self.drain_net_trace();
        let Ok(page) = page else {
            self.note(format!("{name}: pull failed before the fold"));
            return Ok(());
        };
        let records = cached_records(&client)
            .await
            .map_err(|e| fail(format!("{name}: cache: {e}")))?;
        let me = match client.user() {
            Some(user) => [
                Owner::User(user.name.clone()).to_key(),
                user.team
                    .map(|t| Owner::Team(t).to_key())
                    .unwrap_or_else(|| "team:".into()),
            ],
            None => [String::new(), String::new()],
        };
        let waits = self.rng.gen_range(0..8);
        let now = client.now();
        let _ = cut_after(cache.apply_pull(&page, &me, now), waits).await;
        drop(client);
        self.counts.app_kills += 1;
        self.counts.kills_in_transactions += 1;
        self.note(format!(
            "{name}: the app is killed folding a pull page of {} changes",
            page.changes.len()
        ));
        self.restart_app(d, "killed inside a pull's fold").await?;
        let client = self.devices[d].client.clone();
        let now_cursor: i64 = client
            .cache()
            .meta("cursor")
            .await
            .map_err(|e| fail(format!("{name}: cache: {e}")))?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if now_cursor == cursor && page.next != cursor {
            let now_records = cached_records(&client)
                .await
                .map_err(|e| fail(format!("{name}: cache: {e}")))?;
            if now_records != records {
                return Err(fail(format!(
                    "{name}: a pull page killed in its fold left part of it in the cache (the cursor stayed at {cursor})"
                )));
            }
            // The next round would pull the same page again: fold it, as that round would.
            client
                .cache()
                .apply_pull(&page, &me, client.now())
                .await
                .map_err(|e| fail(format!("{name}: fold the page again: {e}")))?;
        } else if now_cursor != page.next {
            return Err(fail(format!(
                "{name}: after a kill in a fold the cursor is {now_cursor}, neither {cursor} nor the page's {}",
                page.next
            )));
        }
        self.note(format!(
            "{name}: reopened with the page folded whole (cursor {})",
            page.next
        ));
        self.observe(d).await
    }
}

/// Every row the outbox held before a kill is there after it, the same change in the same
/// state; no change is in it twice; the killed save's row is there at most once.
fn nothing_lost_or_doubled(
    name: &str,
    before: &[OutboxRow],
    after: &[OutboxRow],
    killed: Option<ChangeId>,
) -> Result<(), Failure> {
    for row in before {
        match after
            .iter()
            .find(|r| r.change.change_id == row.change.change_id)
        {
            Some(r) if r.change == row.change && r.state == row.state => {}
            Some(r) => {
                return Err(fail(format!(
                    "{name}: after a kill inside a save, the outbox's {} changed: {:?} {:?} became {:?} {:?}",
                    row.change.change_id, row.state, row.change.values, r.state, r.change.values
                )))
            }
            None => {
                return Err(fail(format!(
                    "{name}: after a kill inside a save, the saved change {} is gone from the outbox",
                    row.change.change_id
                )))
            }
        }
    }
    let mut ids: Vec<ChangeId> = after.iter().map(|r| r.change.change_id).collect();
    ids.sort();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(fail(format!(
            "{name}: after a kill inside a save, change {} is in the outbox twice",
            w[0]
        )));
    }
    let new: Vec<&OutboxRow> = after
        .iter()
        .filter(|r| {
            !before
                .iter()
                .any(|b| b.change.change_id == r.change.change_id)
        })
        .collect();
    if new.iter().any(|r| Some(r.change.change_id) != killed) {
        return Err(fail(format!(
            "{name}: after a kill inside a save, the outbox holds a change nobody saved"
        )));
    }
    Ok(())
}
