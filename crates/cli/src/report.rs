//! `fieldsync report`: the weekly sync review for operators, from the store (like `device
//! list`) or from a running server, as tables or as CSV (the app's CSV, written once in
//! `fieldsync_app::report`).

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use fieldsync_app::report::{cause_label, csv, delay_text, detail, kind_label, rule_label};
use fieldsync_core::wire::{ReportCounts, ReportKind, ReportParams, SyncReport};
use std::io::Read;

/// A span of time written as a number and a unit: `45s`, `90m`, `36h`, `7d`, `2w`.
pub fn parse_span(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().with_context(|| {
        format!("`{text}` is not a span of time; write a number and a unit, e.g. 7d, 36h, 90m")
    })?;
    let span = match unit.trim() {
        "s" => Duration::seconds(n),
        "m" | "min" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        "w" => Duration::weeks(n),
        other => bail!("unknown unit `{other}` in `{text}`: use s, m, h, d or w"),
    };
    if n <= 0 {
        bail!("`{text}` must be longer than nothing");
    }
    Ok(span)
}

/// `--since`: a span back from now (`7d`) or a time (RFC 3339).
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.with_timezone(&Utc));
    }
    Ok(now - parse_span(text)?)
}

/// The password for `--server`: `FIELDSYNC_PASSWORD`, or the first line of standard input.
pub fn password_from_env_or_stdin() -> Result<String> {
    if let Ok(password) = std::env::var("FIELDSYNC_PASSWORD") {
        return Ok(password);
    }
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.lines().next().unwrap_or_default().to_string();
    if password.is_empty() {
        bail!("give the password in FIELDSYNC_PASSWORD or on standard input");
    }
    Ok(password)
}

/// Asks a running server for the report, signed in as an office user.
pub async fn fetch(
    server: &str,
    user: &str,
    password: &str,
    since: DateTime<Utc>,
    slow_secs: i64,
) -> Result<SyncReport> {
    let base = server.trim_end_matches('/');
    let session = crate::http::Session::login(base, user, password, "fieldsync report").await?;
    session
        .report(&ReportParams {
            since,
            until: None,
            slow_secs: Some(slow_secs),
        })
        .await
}

fn counts_cells(c: &ReportCounts) -> String {
    ReportKind::ALL
        .iter()
        .map(|k| format!("{:>9}", c.get(*k)))
        .collect::<Vec<_>>()
        .join("")
        + &format!("{:>7}", c.total)
}

fn counts_header() -> String {
    ["dup", "conflict", "void/upd", "rejected", "owner", "slow"]
        .iter()
        .map(|h| format!("{h:>9}"))
        .collect::<Vec<_>>()
        .join("")
        + &format!("{:>7}", "total")
}

/// The report as tables: per device, per rule, then the events.
pub fn table(report: &SyncReport) -> String {
    let mut out = String::new();
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    out += &format!(
        "Sync review {} to {} (UTC); slow from {}\n",
        time(report.since),
        time(report.until),
        delay_text(report.slow_secs)
    );
    out += &format!(
        "{} events: {}\n",
        report.totals.total,
        ReportKind::ALL
            .iter()
            .map(|k| format!(
                "{} {}",
                report.totals.get(*k),
                kind_label(*k).to_lowercase()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out += "\nPer device\n";
    out += &format!("{:<24} {:<12}{}\n", "device", "user", counts_header());
    for d in &report.devices {
        out += &format!(
            "{:<24} {:<12}{}\n",
            d.device_name.as_deref().unwrap_or("(no device)"),
            d.device_user.as_deref().unwrap_or("-"),
            counts_cells(&d.counts)
        );
    }
    out += "\nPer rule\n";
    out += &format!("{:<22} {:<17}{}\n", "rule", "cause", counts_header());
    for r in &report.rules {
        out += &format!(
            "{:<22} {:<17}{}\n",
            r.rule,
            cause_label(r.cause),
            counts_cells(&r.counts)
        );
    }
    out += "\nEvents (newest first)\n";
    out += &format!(
        "{:<16} {:<18} {:<12} {:<11} {:<16} {:<10} {:<20} {:>10}  {}\n",
        "when", "kind", "record", "group", "rule", "who", "device", "delay", "detail"
    );
    for e in &report.events {
        out += &format!(
            "{:<16} {:<18} {:<12} {:<11} {:<16} {:<10} {:<20} {:>10}  {}\n",
            time(e.server_time),
            kind_label(e.kind),
            e.number.as_deref().unwrap_or(e.record_type.as_str()),
            e.group.map(|g| g.as_str()).unwrap_or("-"),
            rule_label(&e.rule),
            e.author,
            e.device_name.as_deref().unwrap_or("-"),
            delay_text(e.delay_secs),
            detail(e, report.slow_secs)
        );
    }
    if report.events.is_empty() {
        out += "(nothing flagged, held, refused or slow in this period)\n";
    }
    out
}

/// The report as CSV.
pub fn as_csv(report: &SyncReport) -> Result<String> {
    csv(report).context("cannot write the CSV")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;

    #[test]
    fn spans_and_times_parse_and_mistakes_are_named() {
        let now = Utc.with_ymd_and_hms(2025, 3, 10, 12, 0, 0).unwrap();
        assert_eq!(parse_since("7d", now).unwrap(), now - Duration::days(7));
        assert_eq!(parse_since("36h", now).unwrap(), now - Duration::hours(36));
        assert_eq!(
            parse_since("2025-03-01T00:00:00Z", now).unwrap(),
            Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(parse_span("90m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_span("2w").unwrap(), Duration::days(14));
        assert!(parse_span("7y")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        assert!(parse_span("soon").unwrap_err().to_string().contains("7d"));
        assert!(parse_span("0h").is_err());
    }
}
