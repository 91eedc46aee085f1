//! The policy file: the shipped defaults are DESIGN.md's table, and every error in a file an
//! admin edits names the line and the key.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::judge::JobMatch;
use fieldsync_core::policy::{Lane, OwnerRule, DEFAULT_POLICY};
use fieldsync_core::{
    judge, Apply, Group, JudgeInput, Owner, Policy, PolicyError, PolicyKind, RecordType,
    ReviewKind, Role, Verdict,
};
use serde_json::json;

use Group::*;
use PolicyKind::*;
use RecordType::*;

/// DESIGN.md's table: record type, field group, policy.
const DESIGN_TABLE: [(RecordType, Group, PolicyKind); 14] = [
    (Customer, Profile, LastWriteWins),
    (Customer, Billing, ManualReview),
    (Job, Schedule, OwnerOnly),
    (Job, Status, ManualReview),
    (Job, Work, ManualReview),
    (Job, Description, LastWriteWins),
    (Job, Signature, OwnerOnly),
    (JobNote, Text, AppendOnly),
    (PartLine, Line, AppendOnly),
    (Photo, File, AppendOnly),
    (Invoice, Totals, ManualReview),
    (Invoice, Status, ManualReview),
    (Inspection, Answers, OwnerOnly),
    (Activity, Entry, AppendOnly),
];

#[test]
fn the_default_policy_is_designs_table() {
    let policy = Policy::parse(DEFAULT_POLICY).unwrap();
    assert_eq!(policy, Policy::default_policy());
    for (record_type, group, kind) in DESIGN_TABLE {
        let rule = policy
            .rule(record_type, group)
            .unwrap_or_else(|| panic!("no rule for {record_type}.{group}"));
        assert_eq!(rule.policy, kind, "{record_type}.{group}");
        if kind == ManualReview {
            assert!(
                !rule.resolvers.is_empty(),
                "{record_type}.{group} has no resolvers"
            );
        }
    }
    // Every record type has its rules, and exactly the groups DESIGN.md gives it.
    for record_type in RecordType::ALL {
        let type_rule = policy.types.get(&record_type).unwrap();
        let groups: Vec<Group> = type_rule.groups.keys().copied().collect();
        let mut design: Vec<Group> = DESIGN_TABLE
            .iter()
            .filter(|(t, _, _)| *t == record_type)
            .map(|(_, g, _)| *g)
            .collect();
        design.sort();
        assert_eq!(groups, design, "{record_type}");
        assert!(
            !type_rule.creators.is_empty(),
            "no one creates a {record_type}"
        );
    }
}

#[test]
fn the_default_owners_and_writers_are_designs() {
    let policy = Policy::default_policy();
    let owner = |t: RecordType| policy.type_rule(t).owner.clone();
    assert_eq!(
        owner(Customer),
        OwnerRule::Fixed(Owner::Team("office".into()))
    );
    assert_eq!(owner(Job), OwnerRule::Assignee);
    assert_eq!(owner(JobNote), OwnerRule::Author);
    assert_eq!(owner(PartLine), OwnerRule::JobOwner);
    assert_eq!(owner(Photo), OwnerRule::Author);
    assert_eq!(
        owner(Invoice),
        OwnerRule::Fixed(Owner::Team("finance".into()))
    );
    assert_eq!(owner(Inspection), OwnerRule::JobOwner);

    let rule = |t: RecordType, g: Group| policy.rule(t, g).unwrap();
    // Supervisors change a job's status and work, dispatchers its schedule (by reassignment),
    // finance an invoice, office staff a customer.
    assert!(rule(Job, Status).writers.contains(&Role::Supervisor));
    assert!(rule(Job, Work).writers.contains(&Role::Supervisor));
    assert!(rule(Job, Schedule).writers.contains(&Role::Dispatcher));
    assert!(!rule(Job, Schedule).owner_writes);
    assert!(rule(Invoice, Totals).writers.contains(&Role::Finance));
    assert!(rule(Invoice, Status).writers.contains(&Role::Finance));
    assert!(rule(Customer, Profile).writers.contains(&Role::Office));
    assert!(rule(Customer, Billing).writers.contains(&Role::Office));
    assert!(!rule(Job, Status).writers.contains(&Role::Technician));

    // Supervisors resolve status, labour and approvals; finance resolves totals.
    assert_eq!(rule(Job, Status).resolvers, vec![Role::Supervisor]);
    assert_eq!(rule(Job, Work).resolvers, vec![Role::Supervisor]);
    assert_eq!(rule(Invoice, Totals).resolvers, vec![Role::Finance]);

    // Locks: closed or signed-off jobs, signatures after sign-off, totals after sending.
    assert!(rule(Job, Status).locked_in.contains(&state_named("closed")));
    assert!(rule(Job, Signature)
        .locked_in
        .contains(&state_named("signed_off")));
    assert!(rule(Inspection, Answers)
        .locked_in
        .contains(&state_named("signed_off")));
    assert!(rule(Invoice, Totals)
        .locked_in
        .contains(&state_named("sent")));
    assert!(rule(JobNote, Text)
        .locked_in
        .contains(&state_named("closed")));

    // Photos travel in the file lane, everything else in the changes lane.
    for (t, g, _) in DESIGN_TABLE {
        let expected = if (t, g) == (Photo, File) {
            Lane::Files
        } else {
            Lane::Changes
        };
        assert_eq!(rule(t, g).lane, expected, "{t}.{g}");
    }

    for kind in [
        ReviewKind::OwnershipMoved,
        ReviewKind::PossibleDuplicate,
        ReviewKind::VoidVsUpdate,
    ] {
        let resolvers = policy.resolvers(kind, Job, None);
        assert!(resolvers.contains(&Role::Dispatcher), "{kind:?}");
        assert!(resolvers.contains(&Role::Supervisor), "{kind:?}");
    }
    assert_eq!(
        policy.resolvers(ReviewKind::Conflict, Customer, Some(Billing)),
        vec![Role::Office, Role::Finance]
    );
}

/// The 1-based line on which the first `needle` in `text` ends; a needle may span lines, to
/// point at one of several alike.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` is not in the text"));
    let end = at + needle.trim_end_matches('\n').len();
    text[..end].matches('\n').count() + 1
}

/// The default file with `from` replaced by `to` once.
fn edited(from: &str, to: &str) -> String {
    assert!(DEFAULT_POLICY.contains(from), "`{from}` is not in the file");
    DEFAULT_POLICY.replacen(from, to, 1)
}

/// A policy file edit that must be refused, and where the error must point.
struct Broken {
    what: &'static str,
    text: String,
    /// A text on the line the error must name.
    line_with: &'static str,
    /// A text the error's key must contain.
    key: &'static str,
    /// A text the error's message must contain.
    message: &'static str,
}

fn check(cases: Vec<Broken>) {
    let mut failures = Vec::new();
    for c in &cases {
        let expected_line = line_of(&c.text, c.line_with);
        match Policy::parse(&c.text) {
            Ok(_) => failures.push(format!("{}: accepted", c.what)),
            Err(PolicyError { line, key, message }) => {
                let shown = PolicyError {
                    line,
                    key: key.clone(),
                    message: message.clone(),
                }
                .to_string();
                if line != expected_line
                    || !key.contains(c.key)
                    || !message.contains(c.message)
                    || !shown.contains(&format!("line {expected_line}"))
                {
                    failures.push(format!(
                        "{}: expected line {expected_line}, key with `{}`, message with `{}`; got {shown}",
                        c.what, c.key, c.message
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_error_names_the_line_and_the_key() {
    let job_status = "[job.status]\npolicy = \"manual_review\"\nwriters = [\"supervisor\"]\nresolvers = [\"supervisor\"]\n";
    let job_work = "[job.work]\npolicy = \"manual_review\"\nwriters = [\"supervisor\"]\nresolvers = [\"supervisor\"]\nlocked_in = [\"signed_off\", \"closed\", \"voided\", \"archived\"]\n";
    check(vec![
        Broken {
            what: "an unknown key in a group",
            text: edited(
                "[job.status]\npolicy = \"manual_review\"",
                "[job.status]\npolcy = \"manual_review\"",
            ),
            line_with: "polcy",
            key: "polcy",
            message: "unknown key",
        },
        Broken {
            what: "an unknown role",
            text: edited(
                "[job.work]\npolicy = \"manual_review\"\nwriters = [\"supervisor\"]",
                "[job.work]\npolicy = \"manual_review\"\nwriters = [\"supervisor\", \"janitor\"]",
            ),
            line_with: "janitor",
            key: "job.work.writers",
            message: "janitor",
        },
        Broken {
            what: "an unknown role among a type's creators",
            text: edited(
                "creators = [\"finance\"]",
                "creators = [\"finance\", \"accountant\"]",
            ),
            line_with: "accountant",
            key: "invoice.creators",
            message: "accountant",
        },
        Broken {
            what: "an unknown policy name",
            text: edited(
                "[job.description]\npolicy = \"last_write_wins\"",
                "[job.description]\npolicy = \"first_write_wins\"",
            ),
            line_with: "first_write_wins",
            key: "job.description.policy",
            message: "first_write_wins",
        },
        Broken {
            what: "an unknown record type",
            text: format!("{DEFAULT_POLICY}\n[vehicle]\nowner = \"team:office\"\n"),
            line_with: "[vehicle]",
            key: "vehicle",
            message: "unknown record type",
        },
        Broken {
            what: "a group the type does not have",
            text: format!("{DEFAULT_POLICY}\n[customer.notes]\npolicy = \"append_only\"\n"),
            line_with: "[customer.notes]",
            key: "customer.notes",
            message: "no field group",
        },
        Broken {
            what: "a missing group table",
            text: edited(job_work, ""),
            line_with: "[job]",
            key: "job.work",
            message: "missing table",
        },
        Broken {
            what: "a manual_review group without resolvers",
            text: edited(
                job_status,
                "[job.status]\npolicy = \"manual_review\"\nwriters = [\"supervisor\"]\n",
            ),
            line_with: "[job.status]\npolicy = \"manual_review\"",
            key: "job.status.resolvers",
            message: "resolver",
        },
        Broken {
            what: "a lock in a state the type does not have",
            text: edited(
                "locked_in = [\"sent\", \"paid\", \"void\"]",
                "locked_in = [\"sent\", \"paid\", \"closed\"]",
            ),
            line_with: "locked_in = [\"sent\", \"paid\", \"closed\"]",
            key: "invoice.totals.locked_in",
            message: "closed",
        },
        Broken {
            what: "an unknown lane",
            text: edited("lane = \"files\"", "lane = \"slow\""),
            line_with: "lane = \"slow\"",
            key: "photo.file.lane",
            message: "slow",
        },
        Broken {
            what: "owner_writes that is not true or false",
            text: edited("owner_writes = false", "owner_writes = \"no\""),
            line_with: "owner_writes = \"no\"",
            key: "job.schedule.owner_writes",
            message: "true or false",
        },
        Broken {
            what: "an unknown owner",
            text: edited("owner = \"team:finance\"", "owner = \"finance\""),
            line_with: "owner = \"finance\"",
            key: "invoice.owner",
            message: "unknown owner",
        },
        Broken {
            what: "a conflict's resolvers in the review table",
            text: edited("[review]\n", "[review]\nconflict = [\"supervisor\"]\n"),
            line_with: "conflict = ",
            key: "review.conflict",
            message: "unknown review kind",
        },
        Broken {
            what: "a TOML syntax error",
            text: edited(
                "[job.description]\npolicy = \"last_write_wins\"",
                "[job.description]\npolicy = \"last_write_wins",
            ),
            line_with: "[job.description]\npolicy = \"last_write_wins\n",
            key: "",
            message: "",
        },
        Broken {
            what: "an unclosed table header",
            text: edited("[invoice.status]", "[invoice.status"),
            line_with: "[invoice.status",
            key: "",
            message: "",
        },
        // Found by fuzzing (fuzz/regressions/policy/empty-error-message): the error said nothing.
        Broken {
            what: "a control character in a comment",
            text: edited("(default true)", "(default\u{b} true)"),
            line_with: "(default\u{b} true)",
            key: "",
            message: "control character (\\u{b})",
        },
    ]);
}

#[test]
fn a_missing_record_type_is_named() {
    let without_activity = DEFAULT_POLICY
        .split("[activity]")
        .next()
        .unwrap()
        .to_string();
    let error = Policy::parse(&without_activity).unwrap_err();
    assert_eq!(error.key, "activity");
    assert!(error.message.contains("missing table"), "{error}");
    assert!(error.line >= 1 && error.line <= without_activity.lines().count());
}

#[test]
fn a_policy_file_decides_what_the_judge_does() {
    // An admin turns a job's status into last write wins: a stale change then applies.
    let text = edited(
        "[job.status]\npolicy = \"manual_review\"",
        "[job.status]\npolicy = \"last_write_wins\"",
    );
    let relaxed = Policy::parse(&text).unwrap();
    let change = update(Job, Status, 2, 2, json!({ "state": "paused" }));
    let record = job("in_progress");
    let no_matches: [JobMatch; 0] = [];
    let verdict = |policy: &Policy| {
        judge(&JudgeInput {
            change: &change,
            author: &tom(),
            policy,
            record: Some(&record),
            parent_job: None,
            open_jobs_of_customer: &no_matches,
            file_complete: false,
        })
    };
    assert!(
        matches!(verdict(&Policy::default_policy()), Verdict::Hold(ref h) if h.kind == ReviewKind::Conflict)
    );
    assert!(matches!(
        verdict(&relaxed),
        Verdict::Apply(Apply::Update { version: 4, .. })
    ));
}

#[test]
fn explain_says_the_rule_in_plain_words() {
    let policy = Policy::default_policy();
    let status = policy.explain(Job, Status).unwrap();
    assert!(status.contains("job.status"), "{status}");
    assert!(status.contains("manual review"), "{status}");
    assert!(status.contains("supervisor"), "{status}");
    assert!(status.contains("closed"), "{status}");
    assert!(!status.contains("manual_review"), "{status}");

    let profile = policy.explain(Customer, Profile).unwrap();
    assert!(profile.contains("last write wins"), "{profile}");
    assert!(profile.contains("office"), "{profile}");

    let totals = policy.explain(Invoice, Totals).unwrap();
    assert!(totals.contains("manual review"), "{totals}");
    assert!(totals.contains("Review resolved by: finance"), "{totals}");

    let schedule = policy.explain(Job, Schedule).unwrap();
    assert!(schedule.contains("owner only"), "{schedule}");
    assert!(schedule.contains("dispatcher"), "{schedule}");
    assert!(schedule.contains("does not write"), "{schedule}");

    let photo = policy.explain(Photo, File).unwrap();
    assert!(photo.contains("append only"), "{photo}");
    assert!(photo.contains("file lane"), "{photo}");

    // Every group of the table is explained; a group the type does not have is not.
    for (t, g, kind) in DESIGN_TABLE {
        let words = policy.explain(t, g).unwrap();
        assert!(
            words.contains(&kind.as_str().replace('_', " ")),
            "{t}.{g}: {words}"
        );
        assert!(words.contains("Why:"), "{t}.{g}: {words}");
    }
    assert_eq!(policy.explain(Job, Billing), None);
}
