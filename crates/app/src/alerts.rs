//! Desktop notifications for new review items: when the sync loop brings an open item this
//! person's role may resolve and that they have not been told about, the desktop shell shows a
//! notification with one plain line. What was already waiting when the app started is on the
//! inbox, not announced, so a restart does not bring a burst of old news.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use ts_rs::TS;

use crate::{App, AppError};

/// One notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReviewAlert {
    pub review_id: String,
    pub title: String,
    pub body: String,
}

/// The items already told about (or waiting at start); `None` until the first look.
#[derive(Default)]
pub(crate) struct Alerted(pub(crate) Option<HashSet<String>>);

impl App {
    /// The review items that arrived since the last look, for this person's role; the first
    /// look (at start) only remembers what is waiting.
    pub async fn new_review_alerts(&self) -> Result<Vec<ReviewAlert>, AppError> {
        let Some(role) = self.role() else {
            return Ok(Vec::new());
        };
        let items = self.active()?.review_items().await?;
        let mut alerted = self.alerted.lock().unwrap_or_else(|p| p.into_inner());
        let first_look = alerted.0.is_none();
        let told = alerted.0.get_or_insert_with(HashSet::new);
        let mut out = Vec::new();
        for item in items {
            if item.state != "open" || !item.resolvers.contains(&role) {
                continue;
            }
            if !told.insert(item.review_id.to_string()) || first_look {
                continue;
            }
            let number = item
                .number
                .clone()
                .unwrap_or_else(|| "A new job".to_string());
            let who = item
                .incoming
                .author
                .clone()
                .unwrap_or_else(|| "someone".to_string());
            let what = item
                .group
                .map(|g| g.as_str().replace('_', " "))
                .unwrap_or_else(|| item.record_type.as_str().replace('_', " "));
            out.push(ReviewAlert {
                review_id: item.review_id.to_string(),
                title: format!("{number} needs review"),
                body: format!("{who}'s change to the {what} waits in the review inbox."),
            });
        }
        Ok(out)
    }
}
