//! Match before create: before a new job is made, local drafts, pending creates and recent jobs
//! are searched for the same customer and site on the same day, or a similar summary.

use chrono::{DateTime, NaiveDate, Utc};
use fieldsync_core::{Group, Op, RecordType, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

use crate::cache::Cache;
use crate::ClientResult;

/// The job about to be created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCandidate {
    pub customer_id: String,
    pub site: String,
    /// RFC 3339 start of its window, if known.
    pub window_start: Option<String>,
    pub summary: String,
    /// The draft this candidate is being typed into: it is not a match of itself.
    pub draft_id: Option<String>,
}

/// Where a match was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchSource {
    RecentJob,
    PendingCreate,
    Draft,
}

/// A possible duplicate, with the sentence to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    pub source: MatchSource,
    /// The record id, or the draft id.
    pub id: String,
    pub number: Option<String>,
    pub message: String,
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn day(s: Option<&str>) -> Option<NaiveDate> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc).date_naive())
}

/// Word overlap of two summaries (Jaccard), ignoring case and very short words.
fn similarity(a: &str, b: &str) -> f64 {
    let words = |s: &str| -> BTreeSet<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
            .map(str::to_lowercase)
            .collect()
    };
    let (a, b) = (words(a), words(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    a.intersection(&b).count() as f64 / a.union(&b).count() as f64
}

/// Whether a job's schedule and summary look like the candidate.
fn looks_alike(candidate: &JobCandidate, schedule: &Value, summary: &str) -> bool {
    let text = |k: &str| schedule.get(k).and_then(Value::as_str).unwrap_or_default();
    if text("customer_id") != candidate.customer_id {
        return false;
    }
    let same_place_and_day = norm(text("site")) == norm(&candidate.site)
        && day(schedule.get("window_start").and_then(Value::as_str))
            == day(candidate.window_start.as_deref());
    same_place_and_day || similarity(summary, &candidate.summary) >= 0.5
}

fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - then).num_minutes().max(0);
    match minutes {
        0 => "just now".to_string(),
        1 => "1 minute ago".to_string(),
        m if m < 120 => format!("{m} minutes ago"),
        m if m < 48 * 60 => format!("{} hours ago", m / 60),
        m => format!("{} days ago", m / (24 * 60)),
    }
}

pub async fn find(
    cache: &Cache,
    candidate: &JobCandidate,
    now: DateTime<Utc>,
) -> ClientResult<Vec<Match>> {
    let mut found = Vec::new();
    for (draft_id, values, saved_at) in cache.drafts(RecordType::Job).await? {
        if candidate.draft_id.as_deref() == Some(draft_id.as_str()) {
            continue;
        }
        let schedule = values.get("schedule").cloned().unwrap_or(Value::Null);
        let summary = values
            .get("description")
            .and_then(|d| d.get("summary"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if looks_alike(candidate, &schedule, summary) {
            found.push(Match {
                source: MatchSource::Draft,
                id: draft_id,
                number: None,
                message: format!("This looks like your draft from {}", ago(saved_at, now)),
            });
        }
    }
    for row in cache
        .pending(crate::schedule::Lane::Changes, 100_000)
        .await?
    {
        if row.change.op != Op::Create || row.change.record_type != RecordType::Job {
            continue;
        }
        let schedule = row
            .change
            .values
            .get("schedule")
            .cloned()
            .unwrap_or(Value::Null);
        let summary = row
            .change
            .values
            .get("description")
            .and_then(|d| d.get("summary"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if looks_alike(candidate, &schedule, summary) {
            found.push(Match {
                source: MatchSource::PendingCreate,
                id: row.change.record_id.to_string(),
                number: None,
                message: format!(
                    "This looks like the job you saved on this device {} (not yet synced)",
                    ago(row.saved_at, now)
                ),
            });
        }
    }
    for job in cache.records(RecordType::Job, 500).await? {
        if job.local_only || matches!(job.state, State::Voided | State::Archived) {
            continue;
        }
        let schedule = job
            .groups
            .get(&Group::Schedule)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null);
        let summary = job
            .groups
            .get(&Group::Description)
            .and_then(|(_, v)| v.get("summary").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        if looks_alike(candidate, &schedule, &summary) {
            let label = job.number.clone().unwrap_or_else(|| "a job".to_string());
            found.push(Match {
                source: MatchSource::RecentJob,
                id: job.record_id.to_string(),
                number: job.number.clone(),
                message: format!(
                    "This looks like {label}, opened {}",
                    ago(job.created_at, now)
                ),
            });
        }
    }
    Ok(found)
}
