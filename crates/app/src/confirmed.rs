//! Duplicates the person already ruled out. A new job whose customer, site and day match an open
//! job is flagged `possible_duplicate` by the server (the contract's rule: the server cannot know
//! what the person saw). When the person who created it was shown that very match ("This looks
//! like J-000002") and chose "Create anyway", asking them again in the inbox is asking twice: once
//! the server's item arrives, the app settles it as "keep both" on their behalf, if their role may
//! resolve it and the job it matched is one the warning named. A match the warning did not name
//! (another device's job the form could not see) stays in the inbox for dispatch.

use std::collections::BTreeMap;

use fieldsync_core::wire::{ResolveChoice, ResolveRequest};
use fieldsync_core::{RecordId, ReviewKind};

use crate::{App, AppError};

/// The cache's meta key: new job id -> the job ids its warning named.
const KEY: &str = "confirmed_distinct";

impl App {
    async fn confirmed(&self) -> BTreeMap<String, Vec<String>> {
        let Ok(client) = self.active() else {
            return BTreeMap::new();
        };
        client
            .cache()
            .meta(KEY)
            .await
            .ok()
            .flatten()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    }

    async fn keep_confirmed(&self, map: &BTreeMap<String, Vec<String>>) -> Result<(), AppError> {
        let text =
            serde_json::to_string(map).map_err(|e| AppError::new("internal", e.to_string()))?;
        self.active()?.cache().set_meta(KEY, &text).await?;
        Ok(())
    }

    /// Remembers that the person created `record_id` after a warning naming `seen` (job ids).
    pub(crate) async fn confirm_distinct(
        &self,
        record_id: RecordId,
        seen: Vec<String>,
    ) -> Result<(), AppError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut map = self.confirmed().await;
        map.insert(record_id.to_string(), seen);
        self.keep_confirmed(&map).await
    }

    /// Settles, as "keep both", the server's possible-duplicate items the person already ruled
    /// out. Called after each round that brought something; an item it cannot settle now (the
    /// server unreachable) is tried after the next.
    pub(crate) async fn settle_confirmed(&self) {
        let mut map = self.confirmed().await;
        if map.is_empty() {
            return;
        }
        let Ok(client) = self.active() else {
            return;
        };
        let Some(role) = self.role() else {
            return;
        };
        let Ok(items) = client.review_items().await else {
            return;
        };
        let mut changed = false;
        for item in items
            .iter()
            .filter(|i| i.kind == ReviewKind::PossibleDuplicate && i.state == "open")
        {
            let id = item.record_id.to_string();
            let Some(seen) = map.get(&id) else {
                continue;
            };
            let named = item
                .matched_record_id
                .is_some_and(|m| seen.contains(&m.to_string()));
            if !named || !item.resolvers.contains(&role) {
                // Not what the person ruled out, or not theirs to settle: dispatch decides.
                map.remove(&id);
                changed = true;
                continue;
            }
            let request = ResolveRequest {
                choice: ResolveChoice::Incoming,
                values: None,
                current_version: None,
            };
            match client.resolve(item.review_id, &request).await {
                Ok(_) => {
                    map.remove(&id);
                    changed = true;
                }
                Err(e) => {
                    let e = AppError::from(e);
                    if e.code != "unreachable" {
                        tracing::warn!(code = %e.code, "a confirmed duplicate could not be settled: {}", e.message);
                        map.remove(&id);
                        changed = true;
                    }
                }
            }
        }
        if changed {
            let _ = self.keep_confirmed(&map).await;
            let _ = client.sync_now().await;
        }
    }
}
