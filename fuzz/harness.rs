//! What each fuzz target does with its bytes, written once: the cargo-fuzz targets in
//! `fuzz_targets/` call these, and `crates/core/tests/fuzz_regressions.rs` replays every saved
//! input (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`) through the same functions on
//! stable Rust, so a crash once found stays fixed.
//!
//! A panic here is a finding: either the core panicked on input a device or an admin can send,
//! or an invariant of the judge (DESIGN.md's "nothing dropped, no one edits what is not theirs")
//! did not hold.

use arbitrary::{Arbitrary, Unstructured};
use fieldsync_core::judge::check_shape;
use fieldsync_core::lifecycle::{State, INVOICE_STATES, JOB_STATES};
use fieldsync_core::model::GroupState;
use fieldsync_core::wire::PushRequest;
use fieldsync_core::{
    judge, Apply, Author, Change, ChangeId, Group, JobMatch, JudgeInput, Op, Owner, Policy,
    PolicyKind, RecordId, RecordState, RecordType, Role, Verdict,
};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The shipped policy, parsed once: parsing it for every input would be most of the work.
fn shipped_policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(Policy::default_policy)
}

/// A target's name (its directory under `fuzz/seeds` and `fuzz/regressions`) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: [Target; 3] = [
    ("policy", policy),
    ("change", change),
    ("judge", judge_bytes),
];

/// The policy-file parser: any text either parses into a policy that answers every question
/// about itself, or is refused with an error that names a line.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::parse(text) {
        Ok(policy) => {
            for t in RecordType::ALL {
                policy.type_rule(t);
                for group in t.groups() {
                    let rule = policy.rule(t, *group);
                    assert!(rule.is_some(), "a parsed policy has a rule for {t} {group}");
                    assert!(policy.explain(t, *group).is_some_and(|s| !s.is_empty()));
                }
            }
            // The server sends the policy to its clients as JSON: it must come back the same.
            let json = serde_json::to_string(&policy).expect("a policy serialises");
            let back: Policy = serde_json::from_str(&json).expect("a sent policy reads back");
            assert_eq!(back, policy, "the policy survives the trip to a client");
        }
        Err(e) => {
            let lines = text.lines().count().max(1);
            assert!(
                e.line >= 1 && e.line <= lines + 1,
                "the error names a line of the file ({} of {lines}): {e}",
                e.line
            );
            assert!(!e.message.is_empty(), "the error says what is wrong");
        }
    }
}

/// The change decoder: bytes as a push body (and as one change), decoded the way the server
/// does, then shape-checked. Whatever decodes is judged against no record and against itself.
pub fn change(data: &[u8]) {
    let mut changes = Vec::new();
    if let Ok(push) = serde_json::from_slice::<PushRequest>(data) {
        changes.extend(push.changes);
    }
    if let Ok(one) = serde_json::from_slice::<Change>(data) {
        changes.push(one);
    }
    let policy = shipped_policy();
    for change in &changes {
        let shape = check_shape(change);
        assert_eq!(
            shape,
            check_shape(change),
            "the shape check is deterministic"
        );
        if let Err(rejection) = &shape {
            assert!(!rejection.message.is_empty());
        }
        for role in Role::ALL {
            let author = Author {
                user: "tom".into(),
                role,
                team: Some("north".into()),
            };
            let input = JudgeInput {
                change,
                author: &author,
                policy,
                record: None,
                parent_job: None,
                open_jobs_of_customer: &[],
                file_complete: true,
            };
            let verdict = judge(&input);
            check_verdict(&input, &verdict);
            if shape.is_err() {
                assert!(
                    matches!(verdict, Verdict::Reject(_)),
                    "a change of the wrong shape is refused whoever sends it"
                );
            }
        }
    }
}

/// The judge, on inputs built by `arbitrary` from the bytes.
pub fn judge_bytes(data: &[u8]) {
    if let Ok(case) = JudgeCase::arbitrary_take_rest(Unstructured::new(data)) {
        judge_case(&case);
    }
}

/// Judges one arbitrary case and checks the verdict's invariants.
pub fn judge_case(case: &JudgeCase) {
    let policy = shipped_policy();
    let change = case.change.build();
    let author = case.author.build();
    let record = case
        .record
        .as_ref()
        .map(|r| r.build(change.record_type, change.record_id));
    let parent = case
        .parent_job
        .as_ref()
        .map(|r| r.build(RecordType::Job, record_id(0)));
    let open_jobs: Vec<JobMatch> = case.open_jobs.iter().map(FuzzMatch::build).collect();
    let input = JudgeInput {
        change: &change,
        author: &author,
        policy,
        record: record.as_ref(),
        parent_job: parent.as_ref(),
        open_jobs_of_customer: &open_jobs,
        file_complete: case.file_complete,
    };
    let verdict = judge(&input);
    assert_eq!(verdict, judge(&input), "the judge is deterministic");
    check_verdict(&input, &verdict);
}

/// What every verdict must respect, whatever the input.
fn check_verdict(input: &JudgeInput<'_>, verdict: &Verdict) {
    let change = input.change;
    let author = input.author;
    let t = change.record_type;
    match verdict {
        Verdict::Reject(rejection) => {
            assert!(!rejection.message.is_empty(), "a rejection says why");
        }
        Verdict::Hold(hold) => {
            assert!(!hold.message.is_empty(), "a hold says why");
        }
        Verdict::Apply(Apply::Create { groups, .. }) => {
            assert_eq!(change.op, Op::Create);
            assert!(input.record.is_none(), "a create never overwrites a record");
            assert!(
                input.policy.type_rule(t).creators.contains(&author.role),
                "only the policy's creators create a {t}"
            );
            // Nothing dropped: every field the create named is in its group's first values.
            for (name, fields) in change.values.as_object().into_iter().flatten() {
                let group = Group::parse(name).expect("a create's groups were checked");
                for (key, value) in fields.as_object().into_iter().flatten() {
                    if group == Group::Status && key == "state" {
                        continue;
                    }
                    assert_eq!(
                        groups.get(&group).and_then(|g| g.get(key)),
                        Some(value),
                        "the create's {name}.{key} was dropped"
                    );
                }
            }
        }
        Verdict::Apply(Apply::Update {
            group,
            values,
            version,
            state,
        }) => {
            let record = input.record.expect("an update applies to a record");
            let current = record.group(*group).expect("to a group it has");
            let rule = input.policy.rule(t, *group).expect("under a rule");
            let type_rule = input.policy.type_rule(t);
            assert_eq!(*version, current.version + 1, "versions grow by one");
            assert!(change.owner_epoch <= record.owner_epoch);
            match change.op {
                Op::Update => {
                    for (key, value) in change.values.as_object().into_iter().flatten() {
                        assert_eq!(
                            values.get(key),
                            Some(value),
                            "the update's {key} was dropped"
                        );
                    }
                    assert!(
                        rule.writers.contains(&author.role)
                            || (rule.owner_writes
                                && record.owner.includes(author)
                                && change.owner_epoch == record.owner_epoch),
                        "{} {} wrote the {group} of a {t} owned by {} without the right",
                        author.role,
                        author.user,
                        record.owner
                    );
                    assert!(
                        !rule.locked_in.contains(&record.state),
                        "a {} {t}'s {group} is locked",
                        record.state
                    );
                    assert!(
                        !(rule.policy == PolicyKind::ManualReview && current.contested),
                        "a contested manual-review group changes only by a resolution"
                    );
                    assert_ne!(
                        rule.policy,
                        PolicyKind::AppendOnly,
                        "append-only items are never overwritten"
                    );
                    if *group == Group::Status {
                        assert_eq!(
                            state.map(State::as_str),
                            change.values.get("state").and_then(Value::as_str)
                        );
                    }
                }
                Op::Void => {
                    assert!(
                        type_rule.voiders.contains(&author.role),
                        "only the policy's voiders void a {t}"
                    );
                    assert_eq!(
                        values.get("reason"),
                        change.values.get("reason"),
                        "the void's reason is kept"
                    );
                }
                Op::Create => panic!("a create applied as an update"),
            }
        }
    }
}

/// A few fixed ids, so records, parents and values point at each other often.
fn record_id(n: u8) -> RecordId {
    RecordId(uuid::Uuid::from_u128(0x1000 + u128::from(n % 4)))
}

const NAMES: [&str; 6] = ["tom", "ana", "dan", "sue", "fay", "olly"];
const TEAMS: [&str; 5] = ["north", "dispatch", "office", "finance", "system"];
const KEYS: [&str; 36] = [
    "name",
    "nickname",
    "phone",
    "email",
    "site_address",
    "billing_contact",
    "billing_email",
    "customer_id",
    "site",
    "window_start",
    "window_end",
    "assignee",
    "state",
    "labour_hours",
    "completed_at",
    "summary",
    "signer",
    "signed_at",
    "image_sha256",
    "job_id",
    "text",
    "part_number",
    "quantity",
    "sha256",
    "caption",
    "lines",
    "subtotal",
    "tax",
    "total",
    "currency",
    "answers",
    "who",
    "what",
    "when",
    "reason",
    "previous_state",
];

/// A string: one the domain knows (a state, a name, an id, a time, a hash), or any.
#[derive(Debug, Arbitrary)]
pub enum Text {
    JobState(u8),
    InvoiceState(u8),
    Name(u8),
    Id(u8),
    Time(u32),
    Sha,
    Any(String),
}

impl Text {
    fn build(&self) -> String {
        match self {
            Text::JobState(i) => JOB_STATES[usize::from(*i) % JOB_STATES.len()]
                .as_str()
                .into(),
            Text::InvoiceState(i) => INVOICE_STATES[usize::from(*i) % INVOICE_STATES.len()]
                .as_str()
                .into(),
            Text::Name(i) => NAMES[usize::from(*i) % NAMES.len()].into(),
            Text::Id(i) => record_id(*i).to_string(),
            Text::Time(s) => chrono::DateTime::from_timestamp(i64::from(*s) * 60, 0)
                .unwrap_or_default()
                .to_rfc3339(),
            Text::Sha => "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            Text::Any(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
pub enum Key {
    Known(u8),
    Group(u8),
    Any(String),
}

impl Key {
    fn build(&self) -> String {
        match self {
            Key::Known(i) => KEYS[usize::from(*i) % KEYS.len()].into(),
            Key::Group(i) => Group::ALL[usize::from(*i) % Group::ALL.len()]
                .as_str()
                .into(),
            Key::Any(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
pub enum Leaf {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(Text),
}

impl Leaf {
    fn build(&self) -> Value {
        match self {
            Leaf::Null => Value::Null,
            Leaf::Bool(b) => Value::Bool(*b),
            Leaf::Int(i) => Value::Number((*i).into()),
            Leaf::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Leaf::Text(t) => Value::String(t.build()),
        }
    }
}

/// A value two levels deep at most, so building it never runs out of stack.
#[derive(Debug, Arbitrary)]
pub enum Inner {
    Leaf(Leaf),
    Array(Vec<Leaf>),
    Object(Vec<(Key, Leaf)>),
}

impl Inner {
    fn build(&self) -> Value {
        match self {
            Inner::Leaf(l) => l.build(),
            Inner::Array(items) => Value::Array(items.iter().map(Leaf::build).collect()),
            Inner::Object(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.build(), v.build())).collect())
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
pub enum FieldValue {
    Leaf(Leaf),
    Array(Vec<Inner>),
    Object(Vec<(Key, Inner)>),
}

impl FieldValue {
    fn build(&self) -> Value {
        match self {
            FieldValue::Leaf(l) => l.build(),
            FieldValue::Array(items) => Value::Array(items.iter().map(Inner::build).collect()),
            FieldValue::Object(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.build(), v.build())).collect())
            }
        }
    }
}

fn fields(fields: &[(Key, FieldValue)]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|(k, v)| (k.build(), v.build()))
            .collect::<Map<String, Value>>(),
    )
}

/// A change's values: the fields of one group, the groups of a create, or anything.
#[derive(Debug, Arbitrary)]
pub enum Values {
    Fields(Vec<(Key, FieldValue)>),
    Groups(Vec<(u8, Vec<(Key, FieldValue)>)>),
    Other(FieldValue),
}

impl Values {
    fn build(&self) -> Value {
        match self {
            Values::Fields(f) => fields(f),
            Values::Groups(groups) => Value::Object(
                groups
                    .iter()
                    .map(|(g, f)| {
                        let group = Group::ALL[usize::from(*g) % Group::ALL.len()];
                        (group.as_str().to_string(), fields(f))
                    })
                    .collect(),
            ),
            Values::Other(v) => v.build(),
        }
    }
}

#[derive(Debug, Arbitrary)]
pub struct FuzzChange {
    record_type: u8,
    record: u8,
    group: Option<u8>,
    op: u8,
    base_version: i8,
    owner_epoch: i8,
    values: Values,
}

impl FuzzChange {
    fn build(&self) -> Change {
        Change {
            change_id: ChangeId(uuid::Uuid::from_u128(0x00C4_A46E)),
            record_type: RecordType::ALL[usize::from(self.record_type) % RecordType::ALL.len()],
            record_id: record_id(self.record),
            group: self
                .group
                .map(|g| Group::ALL[usize::from(g) % Group::ALL.len()]),
            op: [Op::Create, Op::Update, Op::Void][usize::from(self.op) % 3],
            base_version: i64::from(self.base_version),
            values: self.values.build(),
            owner_epoch: i64::from(self.owner_epoch),
            device_time: chrono::DateTime::from_timestamp(1_714_554_000, 0).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Arbitrary)]
pub struct FuzzAuthor {
    name: u8,
    role: u8,
    team: Option<u8>,
}

impl FuzzAuthor {
    fn build(&self) -> Author {
        Author {
            user: NAMES[usize::from(self.name) % NAMES.len()].into(),
            role: Role::ALL[usize::from(self.role) % Role::ALL.len()],
            team: self
                .team
                .map(|t| TEAMS[usize::from(t) % TEAMS.len()].to_string()),
        }
    }
}

#[derive(Debug, Arbitrary)]
pub struct FuzzOwner {
    team: bool,
    name: u8,
}

impl FuzzOwner {
    fn build(&self) -> Owner {
        if self.team {
            Owner::Team(TEAMS[usize::from(self.name) % TEAMS.len()].into())
        } else {
            Owner::User(NAMES[usize::from(self.name) % NAMES.len()].into())
        }
    }
}

#[derive(Debug, Arbitrary)]
pub struct FuzzGroup {
    version: u8,
    values: Vec<(Key, FieldValue)>,
    contested: bool,
}

#[derive(Debug, Arbitrary)]
pub struct FuzzRecord {
    /// Mostly the change's own type; sometimes another, as a confused store might hand over.
    other_type: Option<u8>,
    owner: FuzzOwner,
    owner_epoch: u8,
    history: Vec<(u8, FuzzOwner)>,
    state: Text,
    groups: Vec<Option<FuzzGroup>>,
}

impl FuzzRecord {
    fn build(&self, record_type: RecordType, record_id: RecordId) -> RecordState {
        let record_type = self
            .other_type
            .map_or(record_type, |t| RecordType::ALL[usize::from(t) % 8]);
        let groups: BTreeMap<Group, GroupState> = record_type
            .groups()
            .iter()
            .zip(self.groups.iter().chain(std::iter::repeat(&None)))
            .filter_map(|(g, fuzz)| {
                let fuzz = fuzz.as_ref()?;
                Some((
                    *g,
                    GroupState {
                        version: 1 + i64::from(fuzz.version % 8),
                        values: fields(&fuzz.values),
                        contested: fuzz.contested,
                    },
                ))
            })
            .collect();
        RecordState {
            record_type,
            record_id,
            number: None,
            owner: self.owner.build(),
            owner_epoch: i64::from(self.owner_epoch % 5),
            // A stored record is always in a state of the lifecycle (the type says so); text
            // that names none stands for a record that has none of its own.
            state: State::parse(&self.state.build()).unwrap_or(State::Active),
            groups,
            owner_history: self
                .history
                .iter()
                .map(|(epoch, owner)| (i64::from(epoch % 5), owner.build()))
                .collect(),
        }
    }
}

#[derive(Debug, Arbitrary)]
pub struct FuzzMatch {
    record: u8,
    site: Text,
    window_start: Option<Text>,
    state: Text,
}

impl FuzzMatch {
    fn build(&self) -> JobMatch {
        JobMatch {
            record_id: record_id(self.record),
            number: None,
            site: self.site.build(),
            window_start: self.window_start.as_ref().map(Text::build),
            // A stored record is always in a state of the lifecycle (the type says so); text
            // that names none stands for a record that has none of its own.
            state: State::parse(&self.state.build()).unwrap_or(State::Active),
        }
    }
}

/// One arbitrary judging: a change by someone, against a record, a parent job and open jobs.
#[derive(Debug, Arbitrary)]
pub struct JudgeCase {
    change: FuzzChange,
    author: FuzzAuthor,
    record: Option<FuzzRecord>,
    parent_job: Option<FuzzRecord>,
    open_jobs: Vec<FuzzMatch>,
    file_complete: bool,
}
