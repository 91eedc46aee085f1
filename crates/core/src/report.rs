//! The weekly sync review: which kind, rule and cause each flagged, held, refused or slow change
//! belongs to, and the counts per device and per rule. Pure: the store reads the change log and
//! hands each change here.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use crate::ids::{ChangeId, DeviceId, RecordId, ReviewId};
use crate::model::{Group, RecordType};
use crate::policy::Policy;
use crate::wire::{
    DeviceSummary, Op, OutcomeStatus, ReportCause, ReportCounts, ReportEvent, ReportKind,
    ReviewKind, RuleSummary, SyncReport,
};

/// The rule named for a change that reached the server late.
pub const SLOW_RULE: &str = "sync_delay";
/// The rule named for a create that matched an open job.
pub const DUPLICATE_RULE: &str = "duplicate_match";
/// The rule named for an edit made under an earlier owner.
pub const OWNERSHIP_RULE: &str = "ownership_moved";

/// What the change log says of one change: its outcome, the review item it made, and where
/// it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedChange {
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub number: Option<String>,
    pub group: Option<Group>,
    pub op: Op,
    pub change_id: ChangeId,
    pub author: String,
    pub device_id: Option<DeviceId>,
    pub device_name: Option<String>,
    pub device_user: Option<String>,
    pub server_time: DateTime<Utc>,
    pub device_time: DateTime<Utc>,
    pub status: OutcomeStatus,
    pub code: Option<String>,
    pub message: Option<String>,
    /// The review item the change went to (held) or was flagged into (possible duplicate).
    pub review: Option<LoggedReview>,
}

/// A review item as the sync review needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedReview {
    pub review_id: ReviewId,
    pub kind: ReviewKind,
    pub state: String,
    pub matched_number: Option<String>,
}

/// How long a change took from its device to the server, in whole seconds. The device's own
/// time is the wire's record of when the person saved it; a device clock ahead of the server's
/// reads as no delay rather than a negative one.
/// A text cell made safe for a spreadsheet: one that starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return would be read as a formula by Excel, LibreOffice or Sheets (a device name
/// or a note typed as `=HYPERLINK(...)` runs when the office opens the export), so it gets a
/// leading `'`, which the spreadsheet shows as text and hides. Every CSV the product writes
/// passes its text through here; numbers and times it makes itself do not need it.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

pub fn delay_secs(server_time: DateTime<Utc>, device_time: DateTime<Utc>) -> i64 {
    (server_time - device_time).num_seconds().max(0)
}

/// Where a refusal comes from, by its code.
pub fn rejection_cause(code: &str) -> ReportCause {
    match code {
        "not_owner" | "forbidden" | "stale_owner_epoch" => ReportCause::Ownership,
        "record_locked" | "invalid_transition" => ReportCause::ConflictRule,
        _ => ReportCause::InvalidData,
    }
}

/// The events one change makes: none, one, or two (a held or refused change that also came
/// late is both, since a team fixes those in different places).
pub fn events_of(change: &LoggedChange, policy: &Policy, slow_secs: i64) -> Vec<ReportEvent> {
    let delay = delay_secs(change.server_time, change.device_time);
    let mut events = Vec::new();
    let event = |kind: ReportKind, cause: ReportCause, rule: String| ReportEvent {
        kind,
        cause,
        rule,
        record_type: change.record_type,
        record_id: change.record_id,
        number: change.number.clone(),
        group: change.group,
        op: change.op,
        change_id: change.change_id,
        author: change.author.clone(),
        device_id: change.device_id,
        device_name: change.device_name.clone(),
        device_user: change.device_user.clone(),
        server_time: change.server_time,
        device_time: change.device_time,
        delay_secs: delay,
        code: None,
        message: None,
        review_id: change.review.as_ref().map(|r| r.review_id),
        review_state: change.review.as_ref().map(|r| r.state.clone()),
        matched_number: None,
    };
    let group_policy = |group: Option<Group>| {
        group
            .and_then(|g| policy.rule(change.record_type, g))
            .map(|r| r.policy.as_str())
            .unwrap_or("manual_review")
            .to_string()
    };
    if change.status == OutcomeStatus::Rejected {
        let code = change.code.clone().unwrap_or_else(|| "rejected".into());
        let mut e = event(ReportKind::Rejected, rejection_cause(&code), code.clone());
        e.code = Some(code);
        e.message = change.message.clone();
        events.push(e);
    } else if let Some(review) = &change.review {
        let kind = ReportKind::of_review(review.kind);
        let (cause, rule) = match review.kind {
            ReviewKind::Conflict => (ReportCause::ConflictRule, group_policy(change.group)),
            // A void meets an update on the status group.
            ReviewKind::VoidVsUpdate => (
                ReportCause::ConflictRule,
                group_policy(change.group.or(Some(Group::Status))),
            ),
            ReviewKind::OwnershipMoved => (ReportCause::Ownership, OWNERSHIP_RULE.to_string()),
            ReviewKind::PossibleDuplicate => (ReportCause::Duplicate, DUPLICATE_RULE.to_string()),
        };
        let mut e = event(kind, cause, rule);
        e.matched_number = review.matched_number.clone();
        events.push(e);
    }
    if delay >= slow_secs {
        events.push(event(
            ReportKind::SlowChange,
            ReportCause::RetryTiming,
            SLOW_RULE.to_string(),
        ));
    }
    events
}

/// The report of a period: the events newest first, with the counts in total, per device and
/// per rule (most events first).
pub fn build(
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    slow_secs: i64,
    mut events: Vec<ReportEvent>,
) -> SyncReport {
    events.sort_by(|a, b| {
        b.server_time
            .cmp(&a.server_time)
            .then_with(|| b.change_id.cmp(&a.change_id))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    let mut totals = ReportCounts::default();
    let mut devices: BTreeMap<Option<DeviceId>, DeviceSummary> = BTreeMap::new();
    let mut rules: BTreeMap<(String, ReportCause), ReportCounts> = BTreeMap::new();
    for e in &events {
        totals.add(e.kind);
        devices
            .entry(e.device_id)
            .or_insert_with(|| DeviceSummary {
                device_id: e.device_id,
                device_name: e.device_name.clone(),
                device_user: e.device_user.clone(),
                counts: ReportCounts::default(),
            })
            .counts
            .add(e.kind);
        rules
            .entry((e.rule.clone(), e.cause))
            .or_default()
            .add(e.kind);
    }
    let mut devices: Vec<DeviceSummary> = devices.into_values().collect();
    devices.sort_by(|a, b| {
        b.counts
            .total
            .cmp(&a.counts.total)
            .then_with(|| a.device_user.cmp(&b.device_user))
            .then_with(|| a.device_name.cmp(&b.device_name))
    });
    let mut rules: Vec<RuleSummary> = rules
        .into_iter()
        .map(|((rule, cause), counts)| RuleSummary {
            rule,
            cause,
            counts,
        })
        .collect();
    rules.sort_by(|a, b| {
        b.counts
            .total
            .cmp(&a.counts.total)
            .then_with(|| a.rule.cmp(&b.rule))
    });
    SyncReport {
        since,
        until,
        slow_secs,
        totals,
        devices,
        rules,
        events,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, 8, minute, 0).unwrap()
    }

    fn logged(
        group: Option<Group>,
        status: OutcomeStatus,
        code: Option<&str>,
        review: Option<ReviewKind>,
        delay_minutes: i64,
    ) -> LoggedChange {
        LoggedChange {
            record_type: RecordType::Job,
            record_id: RecordId(Uuid::from_u128(1)),
            number: Some("J-000001".into()),
            group,
            op: Op::Update,
            change_id: ChangeId(Uuid::from_u128(2)),
            author: "tom".into(),
            device_id: Some(DeviceId(Uuid::from_u128(3))),
            device_name: Some("Tom's tablet".into()),
            device_user: Some("tom".into()),
            server_time: at(59),
            device_time: at(59) - chrono::Duration::minutes(delay_minutes),
            status,
            code: code.map(str::to_string),
            message: None,
            review: review.map(|kind| LoggedReview {
                review_id: ReviewId(Uuid::from_u128(4)),
                kind,
                state: "open".into(),
                matched_number: None,
            }),
        }
    }

    /// One row per way a change becomes events: (change, the events' kind, cause and rule).
    #[test]
    fn each_outcome_becomes_its_events() {
        use OutcomeStatus as S;
        use ReportCause::*;
        use ReportKind::*;
        let policy = Policy::default_policy();
        type Expected = Vec<(ReportKind, ReportCause, &'static str)>;
        let rows: Vec<(LoggedChange, Expected)> = vec![
            (
                logged(Some(Group::Status), S::Applied, None, None, 5),
                vec![],
            ),
            (
                logged(
                    Some(Group::Status),
                    S::Held,
                    None,
                    Some(ReviewKind::Conflict),
                    5,
                ),
                vec![(Conflict, ConflictRule, "manual_review")],
            ),
            (
                logged(
                    Some(Group::Status),
                    S::Held,
                    None,
                    Some(ReviewKind::VoidVsUpdate),
                    5,
                ),
                vec![(VoidVsUpdate, ConflictRule, "manual_review")],
            ),
            (
                logged(
                    Some(Group::Work),
                    S::Held,
                    None,
                    Some(ReviewKind::OwnershipMoved),
                    5,
                ),
                vec![(OwnershipMoved, Ownership, "ownership_moved")],
            ),
            (
                logged(
                    None,
                    S::Applied,
                    None,
                    Some(ReviewKind::PossibleDuplicate),
                    0,
                ),
                vec![(PossibleDuplicate, Duplicate, "duplicate_match")],
            ),
            (
                logged(
                    Some(Group::Status),
                    S::Rejected,
                    Some("record_locked"),
                    None,
                    5,
                ),
                vec![(Rejected, ConflictRule, "record_locked")],
            ),
            (
                logged(Some(Group::Status), S::Rejected, Some("not_owner"), None, 5),
                vec![(Rejected, Ownership, "not_owner")],
            ),
            (
                logged(
                    Some(Group::Status),
                    S::Rejected,
                    Some("invalid_change"),
                    None,
                    5,
                ),
                vec![(Rejected, InvalidData, "invalid_change")],
            ),
            (
                logged(Some(Group::Description), S::Applied, None, None, 60),
                vec![(SlowChange, RetryTiming, "sync_delay")],
            ),
            (
                logged(
                    Some(Group::Status),
                    S::Held,
                    None,
                    Some(ReviewKind::Conflict),
                    90,
                ),
                vec![
                    (Conflict, ConflictRule, "manual_review"),
                    (SlowChange, RetryTiming, "sync_delay"),
                ],
            ),
        ];
        for (change, want) in rows {
            let got: Vec<(ReportKind, ReportCause, String)> = events_of(&change, &policy, 3600)
                .into_iter()
                .map(|e| (e.kind, e.cause, e.rule))
                .collect();
            let want: Vec<(ReportKind, ReportCause, String)> = want
                .into_iter()
                .map(|(k, c, r)| (k, c, r.to_string()))
                .collect();
            assert_eq!(got, want, "{change:?}");
        }
    }

    #[test]
    fn delay_is_never_negative() {
        assert_eq!(delay_secs(at(10), at(0)), 600);
        assert_eq!(delay_secs(at(0), at(10)), 0);
    }

    #[test]
    fn summaries_count_per_device_and_rule() {
        use OutcomeStatus as S;
        let policy = Policy::default_policy();
        let mut other = logged(
            Some(Group::Status),
            S::Rejected,
            Some("record_locked"),
            None,
            0,
        );
        other.device_id = Some(DeviceId(Uuid::from_u128(9)));
        other.device_name = Some("Rita's phone".into());
        other.server_time = at(30);
        let changes = [
            logged(
                Some(Group::Status),
                S::Held,
                None,
                Some(ReviewKind::Conflict),
                90,
            ),
            logged(
                Some(Group::Work),
                S::Held,
                None,
                Some(ReviewKind::Conflict),
                0,
            ),
            other,
        ];
        let events: Vec<ReportEvent> = changes
            .iter()
            .flat_map(|c| events_of(c, &policy, 3600))
            .collect();
        let report = build(at(0), at(59), 3600, events);
        assert_eq!(report.totals.total, 4);
        assert_eq!(report.totals.conflict, 2);
        assert_eq!(report.totals.slow_change, 1);
        assert_eq!(report.totals.rejected, 1);
        assert_eq!(report.devices.len(), 2);
        assert_eq!(
            report.devices[0].device_name.as_deref(),
            Some("Tom's tablet")
        );
        assert_eq!(report.devices[0].counts.total, 3);
        assert_eq!(report.devices[1].counts.rejected, 1);
        let rules: Vec<(&str, i64)> = report
            .rules
            .iter()
            .map(|r| (r.rule.as_str(), r.counts.total))
            .collect();
        assert_eq!(
            rules,
            [
                ("manual_review", 2),
                ("record_locked", 1),
                ("sync_delay", 1)
            ]
        );
        // Newest first.
        assert!(report
            .events
            .windows(2)
            .all(|w| w[0].server_time >= w[1].server_time));
        assert_eq!(
            report.events.last().map(|e| e.kind),
            Some(ReportKind::Rejected)
        );
    }
}
