//! Sentences for people, beside the sync-state words of `status.rs`: why this device refuses a
//! save, what a sync round says it did (one line per job), and what failed in a round.

use chrono::{DateTime, Utc};
use fieldsync_core::{Group, Owner, RecordId, RecordType, ReviewKind};
use std::fmt::Display;

/// Who owns a record, as a sentence names them: "tom", "the north team".
pub fn owner_name(owner: &Owner) -> String {
    match owner {
        Owner::User(name) => name.clone(),
        Owner::Team(team) => format!("the {team} team"),
    }
}

/// A save refused because ownership moved away from this user; `label` is the record's number
/// or "this job" / "this record".
pub fn read_only(label: &str, owner: &Owner) -> String {
    format!(
        "{label} now belongs to {}; it is read-only on this device",
        owner_name(owner)
    )
}

/// An update or void of a record this device does not have.
pub fn not_on_device(record_type: RecordType, record_id: RecordId) -> String {
    format!("no {record_type} {record_id} on this device")
}

/// A photo's change saved before its file was attached.
pub fn attach_first(sha256: &str) -> String {
    format!("attach the file {sha256} before saving the change that refers to it")
}

/// A job this device made that has no number from the server yet, as a summary names it.
pub const NEW_JOB: &str = "New job";

/// What a change touched, in the screen's words: "notes", "status", "labour", "summary". A
/// group reads as the job page titles it and the timeline names it (`timeline::group_words` in
/// the app: "visit", "summary", "sign-off"), never by its wire name ("description", "schedule"),
/// so the banner's "Your summary synced" points at the card titled "Summary".
pub fn what_changed(record_type: RecordType, group: Option<Group>) -> &'static str {
    match record_type {
        RecordType::JobNote => "notes",
        RecordType::PartLine => "parts",
        RecordType::Photo => "photos",
        RecordType::Inspection => "inspection",
        // An invoice's line sits under its job's number: it must not read as the job's status.
        RecordType::Invoice => match group {
            Some(Group::Status) => "invoice status",
            _ => "invoice",
        },
        _ => match group {
            Some(Group::Status) => "status",
            Some(Group::Work) => "labour",
            Some(Group::Signature) => "sign-off",
            Some(Group::Description) => "summary",
            Some(Group::Schedule) => "visit",
            Some(Group::Profile) => "profile",
            Some(Group::Billing) => "billing details",
            _ => "changes",
        },
    }
}

/// Why a change was held, from the kind of review item it opened.
pub fn held_because(kind: Option<ReviewKind>) -> &'static str {
    match kind {
        Some(ReviewKind::OwnershipMoved) => "because the job was reassigned while you were offline",
        Some(ReviewKind::VoidVsUpdate) => "because the job was voided while you were offline",
        _ => "because someone changed it in the office",
    }
}

/// A change the server refused for good, with the server's reason.
pub fn refused(what: &str, message: &str) -> String {
    format!("Your {what} change was rejected: {message}.")
}

/// One job's line in a round's summary: what synced, what is held and why, what was refused.
/// "J-000248: Your notes synced. Job status needs review because someone changed it in the
/// office."
pub fn job_line(
    label: &str,
    synced: &[&str],
    held: &[(&str, Vec<&str>)],
    refused: &[String],
) -> String {
    let mut line = format!("{label}:");
    if !synced.is_empty() {
        line.push_str(&format!(" Your {} synced.", join_words(synced)));
    }
    // "Job status needs review ...", "Job status and notes need review ...".
    for (why, whats) in held {
        let one = matches!(
            whats.as_slice(),
            [w] if !matches!(*w, "notes" | "parts" | "photos" | "changes" | "billing details")
        );
        let verb = if one { "needs" } else { "need" };
        line.push_str(&format!(" Job {} {verb} review {why}.", join_words(whats)));
    }
    for problem in refused {
        line.push(' ');
        line.push_str(problem);
    }
    line
}

/// A step of a round that failed ("changes", "files", "pull"), for the round's report.
pub fn step_failed(step: &str, error: &dyn Display) -> String {
    format!("{step}: {error}")
}

/// The one change the server failed on alone, set aside so the changes behind it go on.
pub fn set_aside(retry_at: DateTime<Utc>, error: &dyn Display) -> String {
    format!(
        "changes: one change set aside until {}: {error}",
        retry_at.format("%H:%M:%S")
    )
}

fn join_words(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An invoice's change is summed up under its job's number: it reads as the invoice's, not
    /// as the job's status ("J-000006: Your status synced." said the job's status had synced).
    #[test]
    fn an_invoice_change_reads_as_the_invoice_not_the_job() {
        let what = what_changed(RecordType::Invoice, Some(Group::Status));
        assert_eq!(
            job_line("J-000006", &[what], &[], &[]),
            "J-000006: Your invoice status synced."
        );
        assert_eq!(
            what_changed(RecordType::Invoice, Some(Group::Totals)),
            "invoice"
        );
        assert_eq!(what_changed(RecordType::Job, Some(Group::Status)), "status");
    }

    /// A job's groups read as the job page titles them: "J-000001: Your description synced."
    /// named a card the screen calls "Summary".
    #[test]
    fn a_jobs_groups_read_as_the_screen_titles_them() {
        let cases = [
            (Group::Description, "summary"),
            (Group::Schedule, "visit"),
            (Group::Work, "labour"),
            (Group::Signature, "sign-off"),
            (Group::Status, "status"),
        ];
        for (group, words) in cases {
            assert_eq!(
                what_changed(RecordType::Job, Some(group)),
                words,
                "{group:?}"
            );
        }
        let what = what_changed(RecordType::Job, Some(Group::Description));
        assert_eq!(
            job_line("J-000001", &[what], &[], &[]),
            "J-000001: Your summary synced."
        );
        assert_eq!(
            what_changed(RecordType::Customer, Some(Group::Profile)),
            "profile"
        );
    }
}
