//! The weekly sync review: the server's report of a period (`GET /api/v1/report`) as the office
//! app shows it, and as CSV. The CSV is written here once, for the app's "Export CSV" and for
//! `fieldsync report --csv`.

use chrono::{Duration, SecondsFormat};
use fieldsync_core::report::spreadsheet_safe;
use fieldsync_core::wire::{
    ReportCause, ReportCounts, ReportEvent, ReportKind, ReportParams, SyncReport,
};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{App, AppError};

/// The report's longest period: a year.
pub const MAX_DAYS: u32 = 366;

/// Which period to review and what counts as slow.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReportArgs {
    /// The last this many days, up to now (1 to 366).
    pub days: u32,
    /// A change is slow when it reached the server at least this many minutes after it was
    /// saved on its device; an hour when left out.
    #[serde(default)]
    #[ts(optional)]
    pub slow_minutes: Option<u32>,
}

/// How many events of each kind, as a row of a summary table.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReportCountsView {
    pub possible_duplicate: u32,
    pub conflict: u32,
    pub void_vs_update: u32,
    pub rejected: u32,
    pub ownership_moved: u32,
    pub slow_change: u32,
    pub total: u32,
}

/// One summary card: a kind, in words, and how many.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReportKindCard {
    pub kind: String,
    pub label: String,
    /// What this kind means, in a sentence.
    pub hint: String,
    pub count: u32,
}

/// How many events one cause made: whether problems come from ownership, a conflict rule or
/// retry timing.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReportCauseCard {
    pub cause: String,
    pub label: String,
    pub count: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReportDeviceRow {
    pub device_id: Option<String>,
    /// The device's name, or "No device" for changes the server made itself.
    pub device: String,
    pub user: Option<String>,
    pub counts: ReportCountsView,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReportRuleRow {
    /// The rule as the server names it: `manual_review`, `not_owner`, `sync_delay`...
    pub rule: String,
    pub rule_label: String,
    /// `ownership`, `conflict_rule`, `retry_timing`, `duplicate` or `invalid_data`.
    pub cause: String,
    pub cause_label: String,
    pub counts: ReportCountsView,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReportEventRow {
    pub kind: String,
    pub kind_label: String,
    pub cause: String,
    pub cause_label: String,
    pub rule: String,
    pub rule_label: String,
    pub record_type: String,
    pub record_id: String,
    /// The record's number (J-000248), or the start of its id when it has none yet.
    pub record: String,
    /// Set for jobs: the record detail the event links to.
    pub job_id: Option<String>,
    pub group: Option<String>,
    pub author: String,
    pub device: String,
    pub device_user: Option<String>,
    /// When the server judged it (RFC 3339).
    pub at: String,
    /// When the device saved it (RFC 3339).
    pub saved_at: String,
    pub delay_secs: u32,
    /// The delay in words: "3 h 5 min".
    pub delay: String,
    /// What happened, in a sentence: the rejection's reason, the job it may duplicate...
    pub detail: String,
    /// `open` or `resolved` for the events in the review inbox.
    pub review_state: Option<String>,
}

/// The sync review as the report page shows it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReportView {
    pub since: String,
    pub until: String,
    pub days: u32,
    pub slow_minutes: u32,
    /// The slow threshold in words: "1 h".
    pub slow_text: String,
    pub cards: Vec<ReportKindCard>,
    pub total: u32,
    /// Every cause, in a fixed order, with its events.
    pub causes: Vec<ReportCauseCard>,
    pub devices: Vec<ReportDeviceRow>,
    pub rules: Vec<ReportRuleRow>,
    pub events: Vec<ReportEventRow>,
    /// Where "Export CSV"'s save dialog opens: the period's file name in the exports folder
    /// (the person's Downloads in the desktop), not the app's working directory.
    pub export_path: Option<String>,
}

/// The CSV of a period's events, with a file name for the download.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReportCsv {
    pub filename: String,
    pub text: String,
}

/// Saving the period's CSV as a file: at the path the person chose in the save dialog (the
/// desktop window), or, without one (a browser on loopback, which has no dialog), in the app's
/// exports folder. A download link would do nothing in the desktop window's webview.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SaveCsvArgs {
    pub days: u32,
    #[serde(default)]
    #[ts(optional)]
    pub slow_minutes: Option<u32>,
    /// Where to write it: an absolute path ending in `.csv`.
    pub path: Option<String>,
}

/// Where a file was written, to say so on screen.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SavedFile {
    pub path: String,
    pub filename: String,
    #[ts(type = "number")]
    pub rows: u64,
}

pub fn kind_label(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::PossibleDuplicate => "Possible duplicate",
        ReportKind::Conflict => "Conflict",
        ReportKind::VoidVsUpdate => "Void vs update",
        ReportKind::Rejected => "Rejected",
        ReportKind::OwnershipMoved => "Ownership moved",
        ReportKind::SlowChange => "Slow change",
    }
}

fn kind_hint(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::PossibleDuplicate => {
            "A new job matched an open one (same customer, site and day)."
        }
        ReportKind::Conflict => "Two people changed the same field group; held for review.",
        ReportKind::VoidVsUpdate => "A void met an update; held for review.",
        ReportKind::Rejected => "The server refused the change (owner, lock or data).",
        ReportKind::OwnershipMoved => "An edit made after the job moved to someone else; held.",
        ReportKind::SlowChange => "Reached the server long after it was saved on the device.",
    }
}

pub fn cause_label(cause: ReportCause) -> &'static str {
    match cause {
        ReportCause::Ownership => "Ownership",
        ReportCause::ConflictRule => "Conflict rule",
        ReportCause::RetryTiming => "Retry timing",
        ReportCause::Duplicate => "Duplicate create",
        ReportCause::InvalidData => "Invalid data",
    }
}

/// A rule's name in words: `manual_review` -> "Manual review".
pub fn rule_label(rule: &str) -> String {
    let words = rule.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A delay in words: "45 s", "12 min", "3 h", "3 h 5 min", "2 days 4 h".
pub fn delay_text(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 48 * 3600 && s % 3600 < 60 => format!("{} h", s / 3600),
        s if s < 48 * 3600 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s if s % 86400 < 3600 => format!("{} days", s / 86400),
        s => format!("{} days {} h", s / 86400, (s % 86400) / 3600),
    }
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn counts_view(c: &ReportCounts) -> ReportCountsView {
    ReportCountsView {
        possible_duplicate: count(c.possible_duplicate),
        conflict: count(c.conflict),
        void_vs_update: count(c.void_vs_update),
        rejected: count(c.rejected),
        ownership_moved: count(c.ownership_moved),
        slow_change: count(c.slow_change),
        total: count(c.total),
    }
}

fn device_of(name: Option<&str>) -> String {
    name.unwrap_or("No device").to_string()
}

fn record_of(e: &ReportEvent) -> String {
    e.number.clone().unwrap_or_else(|| {
        let id = e.record_id.to_string();
        format!("{} {}", e.record_type, &id[..8.min(id.len())])
    })
}

/// What happened, in a sentence.
pub fn detail(e: &ReportEvent, slow_secs: i64) -> String {
    let group = e.group.map(|g| g.as_str()).unwrap_or("record");
    match e.kind {
        ReportKind::PossibleDuplicate => match &e.matched_number {
            Some(n) => format!("Looks like {n}"),
            None => "Looks like an open job".into(),
        },
        ReportKind::Conflict => format!("{group} changed on two devices"),
        ReportKind::VoidVsUpdate => "a void met an update".into(),
        // The rule beside it names the code; the sentence says why.
        ReportKind::Rejected => e
            .message
            .clone()
            .or_else(|| e.code.clone())
            .unwrap_or_else(|| "refused".into()),
        ReportKind::OwnershipMoved => format!("{group} edited under an earlier owner"),
        ReportKind::SlowChange => format!(
            "{} after it was saved (slow from {})",
            delay_text(e.delay_secs),
            delay_text(slow_secs)
        ),
    }
}

/// The report as the page shows it.
pub fn view(report: &SyncReport, days: u32) -> ReportView {
    let cards = ReportKind::ALL
        .into_iter()
        .map(|kind| ReportKindCard {
            kind: kind.as_str().into(),
            label: kind_label(kind).into(),
            hint: kind_hint(kind).into(),
            count: count(report.totals.get(kind)),
        })
        .collect();
    let causes = ReportCause::ALL
        .into_iter()
        .map(|cause| ReportCauseCard {
            cause: cause.as_str().into(),
            label: cause_label(cause).into(),
            count: count(
                report
                    .rules
                    .iter()
                    .filter(|r| r.cause == cause)
                    .map(|r| r.counts.total)
                    .sum(),
            ),
        })
        .collect();
    let devices = report
        .devices
        .iter()
        .map(|d| ReportDeviceRow {
            device_id: d.device_id.map(|id| id.to_string()),
            device: device_of(d.device_name.as_deref()),
            user: d.device_user.clone(),
            counts: counts_view(&d.counts),
        })
        .collect();
    let rules = report
        .rules
        .iter()
        .map(|r| ReportRuleRow {
            rule: r.rule.clone(),
            rule_label: rule_label(&r.rule),
            cause: r.cause.as_str().into(),
            cause_label: cause_label(r.cause).into(),
            counts: counts_view(&r.counts),
        })
        .collect();
    let events = report
        .events
        .iter()
        .map(|e| ReportEventRow {
            kind: e.kind.as_str().into(),
            kind_label: kind_label(e.kind).into(),
            cause: e.cause.as_str().into(),
            cause_label: cause_label(e.cause).into(),
            rule: e.rule.clone(),
            rule_label: rule_label(&e.rule),
            record_type: e.record_type.as_str().into(),
            record_id: e.record_id.to_string(),
            record: record_of(e),
            job_id: (e.record_type == fieldsync_core::RecordType::Job)
                .then(|| e.record_id.to_string()),
            group: e.group.map(|g| g.as_str().to_string()),
            author: e.author.clone(),
            device: device_of(e.device_name.as_deref()),
            device_user: e.device_user.clone(),
            at: e.server_time.to_rfc3339_opts(SecondsFormat::Secs, true),
            saved_at: e.device_time.to_rfc3339_opts(SecondsFormat::Secs, true),
            delay_secs: count(e.delay_secs),
            delay: delay_text(e.delay_secs),
            detail: detail(e, report.slow_secs),
            review_state: e.review_state.clone(),
        })
        .collect();
    ReportView {
        since: report.since.to_rfc3339_opts(SecondsFormat::Secs, true),
        until: report.until.to_rfc3339_opts(SecondsFormat::Secs, true),
        days,
        slow_minutes: count(report.slow_secs / 60),
        slow_text: delay_text(report.slow_secs),
        cards,
        total: count(report.totals.total),
        causes,
        devices,
        rules,
        events,
        export_path: None,
    }
}

/// The CSV's columns, in order.
pub const CSV_COLUMNS: [&str; 20] = [
    "kind",
    "cause",
    "rule",
    "code",
    "record_type",
    "number",
    "record_id",
    "group",
    "op",
    "author",
    "device",
    "device_user",
    "device_id",
    "server_time",
    "device_time",
    "delay_secs",
    "review_state",
    "matched_number",
    "message",
    "change_id",
];

/// The period's CSV file name: "fieldsync-sync-review-2025-03-03-to-2025-03-10.csv".
fn csv_filename(report: &SyncReport) -> String {
    format!(
        "fieldsync-sync-review-{}-to-{}.csv",
        report.since.format("%Y-%m-%d"),
        report.until.format("%Y-%m-%d")
    )
}

/// The events of a report as CSV (RFC 4180, a header row, times in RFC 3339 UTC), newest first.
pub fn csv(report: &SyncReport) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_COLUMNS)?;
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    // Text that people or devices typed (names, numbers, messages) is made safe for a
    // spreadsheet; the ids, codes, times and counts are the app's own.
    let text = |s: Option<&str>| spreadsheet_safe(s.unwrap_or_default()).into_owned();
    for e in &report.events {
        out.write_record([
            e.kind.as_str().to_string(),
            e.cause.as_str().to_string(),
            e.rule.clone(),
            e.code.clone().unwrap_or_default(),
            e.record_type.as_str().to_string(),
            text(e.number.as_deref()),
            e.record_id.to_string(),
            e.group.map(|g| g.as_str().to_string()).unwrap_or_default(),
            e.op.as_str().to_string(),
            text(Some(&e.author)),
            text(e.device_name.as_deref()),
            text(e.device_user.as_deref()),
            e.device_id.map(|d| d.to_string()).unwrap_or_default(),
            time(e.server_time),
            time(e.device_time),
            e.delay_secs.to_string(),
            e.review_state.clone().unwrap_or_default(),
            text(e.matched_number.as_deref()),
            text(e.message.as_deref()),
            e.change_id.to_string(),
        ])?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every field went in as a String, so the bytes are UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

impl App {
    async fn fetch_report(&self, args: &ReportArgs) -> Result<SyncReport, AppError> {
        if !(1..=MAX_DAYS).contains(&args.days) {
            return Err(AppError::new(
                "invalid",
                format!("choose a period of 1 to {MAX_DAYS} days"),
            ));
        }
        let slow_minutes = args.slow_minutes.unwrap_or(60);
        if slow_minutes == 0 {
            return Err(AppError::new(
                "invalid",
                "a change is slow after at least one minute",
            ));
        }
        let since = self.active()?.now() - Duration::days(i64::from(args.days));
        let params = ReportParams {
            since,
            until: None,
            slow_secs: Some(i64::from(slow_minutes) * 60),
        };
        Ok(self.active()?.sync_review(&params).await?)
    }

    /// The sync review of the last `days` days, from the server (it needs the server: the
    /// report is about every device, which no one device's cache holds).
    pub async fn report(&self, args: ReportArgs) -> Result<ReportView, AppError> {
        let report = self.fetch_report(&args).await?;
        let mut page = view(&report, args.days);
        page.export_path = self
            .exports_dir()
            .map(|d| d.join(csv_filename(&report)).to_string_lossy().into_owned());
        Ok(page)
    }

    /// Writes the period's events as CSV where the person chose (or in the exports folder).
    pub async fn save_report_csv(&self, args: SaveCsvArgs) -> Result<SavedFile, AppError> {
        let csv = self
            .report_csv(ReportArgs {
                days: args.days,
                slow_minutes: args.slow_minutes,
            })
            .await?;
        self.write_csv(args.path.as_deref(), &csv.filename, &csv.text)
    }

    /// Writes a CSV file where the person chose in the save dialog (an absolute path ending in
    /// `.csv`) or, with no place given (a browser on loopback), as `filename` in the exports
    /// folder: the one way every CSV export of the app reaches the disk.
    pub(crate) fn write_csv(
        &self,
        chosen: Option<&str>,
        filename: &str,
        text: &str,
    ) -> Result<SavedFile, AppError> {
        let path = match chosen.map(str::trim).filter(|p| !p.is_empty()) {
            Some(chosen) => {
                let path = std::path::PathBuf::from(chosen);
                let is_csv = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
                if !path.is_absolute() || !is_csv {
                    return Err(AppError::new(
                        "invalid",
                        format!(
                            "`{chosen}` is not a place for a CSV file: choose a file ending in .csv"
                        ),
                    ));
                }
                path
            }
            None => {
                let dir = self
                    .exports_dir()
                    .ok_or_else(|| AppError::new("invalid", "Choose where to save the file."))?;
                std::fs::create_dir_all(&dir).map_err(|e| {
                    AppError::new(
                        "internal",
                        format!("the folder {} could not be made: {e}", dir.display()),
                    )
                })?;
                dir.join(filename)
            }
        };
        std::fs::write(&path, text.as_bytes()).map_err(|e| {
            AppError::new(
                "internal",
                format!("{} could not be written: {e}", path.display()),
            )
        })?;
        Ok(SavedFile {
            rows: text.lines().count().saturating_sub(1) as u64,
            path: path.display().to_string(),
            filename: filename.to_string(),
        })
    }

    /// The same period's events as CSV.
    pub async fn report_csv(&self, args: ReportArgs) -> Result<ReportCsv, AppError> {
        let report = self.fetch_report(&args).await?;
        let text = csv(&report)
            .map_err(|e| AppError::new("internal", format!("the CSV could not be written: {e}")))?;
        Ok(ReportCsv {
            filename: csv_filename(&report),
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::{TimeZone, Utc};
    use fieldsync_core::wire::Op;
    use fieldsync_core::{ChangeId, DeviceId, Group, RecordId, RecordType};
    use uuid::Uuid;

    fn event(kind: ReportKind, message: Option<&str>) -> ReportEvent {
        let at = Utc.with_ymd_and_hms(2025, 3, 10, 9, 0, 0).unwrap();
        ReportEvent {
            kind,
            cause: ReportCause::Ownership,
            rule: "not_owner".into(),
            record_type: RecordType::Job,
            record_id: RecordId(Uuid::from_u128(1)),
            number: Some("J-000007".into()),
            group: Some(Group::Status),
            op: Op::Update,
            change_id: ChangeId(Uuid::from_u128(2)),
            author: "rita".into(),
            device_id: Some(DeviceId(Uuid::from_u128(3))),
            device_name: Some("Rita's phone, \"old\"".into()),
            device_user: Some("rita".into()),
            server_time: at,
            device_time: at - Duration::minutes(190),
            delay_secs: 190 * 60,
            code: Some("not_owner".into()),
            message: message.map(str::to_string),
            review_id: None,
            review_state: None,
            matched_number: None,
        }
    }

    fn report(events: Vec<ReportEvent>) -> SyncReport {
        let until = Utc.with_ymd_and_hms(2025, 3, 10, 12, 0, 0).unwrap();
        fieldsync_core::report::build(until - Duration::days(7), until, 3600, events)
    }

    #[test]
    fn csv_has_a_header_and_one_quoted_row_per_event() {
        let text = csv(&report(vec![event(
            ReportKind::Rejected,
            Some("the job belongs to tom, line one\nline two"),
        )]))
        .unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, CSV_COLUMNS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        let field = |name: &str| &row[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert_eq!(field("kind"), "rejected");
        assert_eq!(field("rule"), "not_owner");
        assert_eq!(field("number"), "J-000007");
        assert_eq!(field("device"), "Rita's phone, \"old\"");
        assert_eq!(field("delay_secs"), "11400");
        assert_eq!(field("server_time"), "2025-03-10T09:00:00Z");
        assert_eq!(
            field("message"),
            "the job belongs to tom, line one\nline two"
        );
    }

    #[test]
    fn text_a_spreadsheet_would_run_as_a_formula_is_written_as_text() {
        let mut e = event(ReportKind::Rejected, Some("=HYPERLINK(\"http://x\",\"y\")"));
        e.device_name = Some("@SUM(A1:A9)".into());
        e.author = "+tom".into();
        let text = csv(&report(vec![e])).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        let field =
            |name: &str| row[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()].to_string();
        assert_eq!(field("message"), "'=HYPERLINK(\"http://x\",\"y\")");
        assert_eq!(field("device"), "'@SUM(A1:A9)");
        assert_eq!(field("author"), "'+tom");
        // The app's own values are left as they are.
        assert_eq!(field("delay_secs"), "11400");
        for c in ["-1", "\tx", "\rx"] {
            assert!(spreadsheet_safe(c).starts_with('\''), "{c:?}");
        }
        assert_eq!(spreadsheet_safe("Pier 4"), "Pier 4");
    }

    #[test]
    fn the_page_gets_words_cards_and_links() {
        let v = view(&report(vec![event(ReportKind::Rejected, None)]), 7);
        assert_eq!(v.total, 1);
        assert_eq!(v.cards.len(), 6);
        let rejected = v.cards.iter().find(|c| c.kind == "rejected").unwrap();
        assert_eq!((rejected.label.as_str(), rejected.count), ("Rejected", 1));
        let causes: Vec<(&str, u32)> = v
            .causes
            .iter()
            .map(|c| (c.cause.as_str(), c.count))
            .collect();
        assert_eq!(
            causes,
            [
                ("ownership", 1),
                ("conflict_rule", 0),
                ("retry_timing", 0),
                ("duplicate", 0),
                ("invalid_data", 0)
            ]
        );
        assert_eq!(v.rules[0].rule_label, "Not owner");
        assert_eq!(v.rules[0].cause_label, "Ownership");
        assert_eq!(v.devices[0].device, "Rita's phone, \"old\"");
        let e = &v.events[0];
        assert_eq!(e.job_id.as_deref(), Some(e.record_id.as_str()));
        assert_eq!(e.record, "J-000007");
        assert_eq!(e.delay, "3 h 10 min");
        assert_eq!(e.detail, "not_owner");
    }

    #[test]
    fn delays_read_in_words() {
        for (secs, text) in [
            (-5, "0 s"),
            (45, "45 s"),
            (720, "12 min"),
            (3 * 3600 + 300, "3 h 5 min"),
            (3600, "1 h"),
            (3 * 86400, "3 days"),
            (2 * 86400 + 4 * 3600, "2 days 4 h"),
        ] {
            assert_eq!(delay_text(secs), text);
        }
    }
}
