//! Records, field groups, owners, roles and lifecycles, with the names they have on the wire.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

use crate::ids::RecordId;
use crate::state::State;

/// The kinds of record Fieldsync keeps.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    Customer,
    Job,
    JobNote,
    PartLine,
    Photo,
    Invoice,
    Inspection,
    Activity,
}

impl RecordType {
    pub const ALL: [RecordType; 8] = [
        RecordType::Customer,
        RecordType::Job,
        RecordType::JobNote,
        RecordType::PartLine,
        RecordType::Photo,
        RecordType::Invoice,
        RecordType::Inspection,
        RecordType::Activity,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RecordType::Customer => "customer",
            RecordType::Job => "job",
            RecordType::JobNote => "job_note",
            RecordType::PartLine => "part_line",
            RecordType::Photo => "photo",
            RecordType::Invoice => "invoice",
            RecordType::Inspection => "inspection",
            RecordType::Activity => "activity",
        }
    }

    pub fn parse(s: &str) -> Option<RecordType> {
        RecordType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The field groups a record of this type has, in the order of DESIGN.md.
    pub fn groups(&self) -> &'static [Group] {
        use Group::*;
        match self {
            RecordType::Customer => &[Profile, Billing],
            RecordType::Job => &[Schedule, Status, Work, Description, Signature],
            RecordType::JobNote => &[Text],
            RecordType::PartLine => &[Line],
            RecordType::Photo => &[File],
            RecordType::Invoice => &[Totals, Status],
            RecordType::Inspection => &[Answers],
            RecordType::Activity => &[Entry],
        }
    }

    pub fn has_group(&self, group: Group) -> bool {
        self.groups().contains(&group)
    }

    /// The prefix of the human number the server gives at first accept (J-000248).
    pub fn number_prefix(&self) -> &'static str {
        match self {
            RecordType::Customer => "C",
            RecordType::Job => "J",
            RecordType::JobNote => "N",
            RecordType::PartLine => "PL",
            RecordType::Photo => "PH",
            RecordType::Invoice => "INV",
            RecordType::Inspection => "INS",
            RecordType::Activity => "A",
        }
    }

    /// Records that belong to a job and point at it with `job_id`.
    pub fn is_job_child(&self) -> bool {
        matches!(
            self,
            RecordType::JobNote | RecordType::PartLine | RecordType::Photo | RecordType::Inspection
        )
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field group: the unit of versioning and of conflict policy.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Profile,
    Billing,
    Schedule,
    Status,
    Work,
    Description,
    Signature,
    Text,
    Line,
    File,
    Totals,
    Answers,
    Entry,
}

impl Group {
    pub const ALL: [Group; 13] = [
        Group::Profile,
        Group::Billing,
        Group::Schedule,
        Group::Status,
        Group::Work,
        Group::Description,
        Group::Signature,
        Group::Text,
        Group::Line,
        Group::File,
        Group::Totals,
        Group::Answers,
        Group::Entry,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Group::Profile => "profile",
            Group::Billing => "billing",
            Group::Schedule => "schedule",
            Group::Status => "status",
            Group::Work => "work",
            Group::Description => "description",
            Group::Signature => "signature",
            Group::Text => "text",
            Group::Line => "line",
            Group::File => "file",
            Group::Totals => "totals",
            Group::Answers => "answers",
            Group::Entry => "entry",
        }
    }

    pub fn parse(s: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a field holds, for checking the values of a change before anything is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Number,
    List,
    Object,
    /// A record id (UUID) of another record.
    Reference,
    /// A SHA-256 in lowercase hex.
    Sha256,
    /// An RFC 3339 time.
    Time,
}

/// The fields of one group, with their kinds and whether a create must give them.
pub fn fields(record_type: RecordType, group: Group) -> &'static [(&'static str, FieldKind, bool)] {
    use FieldKind::*;
    match (record_type, group) {
        (RecordType::Customer, Group::Profile) => &[
            ("name", Text, true),
            ("nickname", Text, false),
            ("phone", Text, false),
            ("email", Text, false),
            ("site_address", Text, false),
        ],
        (RecordType::Customer, Group::Billing) => &[
            ("billing_contact", Text, false),
            ("billing_email", Text, false),
        ],
        (RecordType::Job, Group::Schedule) => &[
            ("customer_id", Reference, true),
            ("site", Text, true),
            ("window_start", Time, false),
            ("window_end", Time, false),
            ("assignee", Text, false),
        ],
        (RecordType::Job, Group::Status) | (RecordType::Invoice, Group::Status) => {
            &[("state", Text, false), ("reason", Text, false)]
        }
        (RecordType::Job, Group::Work) => &[
            ("labour_hours", Number, false),
            ("completed_at", Time, false),
        ],
        (RecordType::Job, Group::Description) => &[("summary", Text, false)],
        (RecordType::Job, Group::Signature) => &[
            ("signer", Text, false),
            ("signed_at", Time, false),
            ("image_sha256", Sha256, false),
        ],
        (RecordType::JobNote, Group::Text) => &[("job_id", Reference, true), ("text", Text, true)],
        (RecordType::PartLine, Group::Line) => &[
            ("job_id", Reference, true),
            ("part_number", Text, true),
            ("quantity", Number, true),
        ],
        (RecordType::Photo, Group::File) => &[
            ("job_id", Reference, true),
            ("sha256", Sha256, true),
            ("caption", Text, false),
        ],
        (RecordType::Invoice, Group::Totals) => &[
            ("job_id", Reference, false),
            ("lines", List, false),
            ("subtotal", Number, false),
            ("tax", Number, false),
            ("total", Number, false),
            ("currency", Text, false),
        ],
        (RecordType::Inspection, Group::Answers) => {
            &[("job_id", Reference, true), ("answers", Object, false)]
        }
        (RecordType::Activity, Group::Entry) => &[
            ("job_id", Reference, false),
            ("who", Text, true),
            ("what", Text, true),
            ("when", Time, true),
        ],
        _ => &[],
    }
}

/// Checks a group's values: an object, only known fields, each of its kind, and (on a create)
/// the required ones present. Returns a sentence a person can act on.
pub fn check_values(
    record_type: RecordType,
    group: Group,
    values: &Value,
    creating: bool,
) -> Result<(), String> {
    let Some(map) = values.as_object() else {
        return Err(format!("values of {record_type}.{group} must be an object"));
    };
    let known = fields(record_type, group);
    for (key, value) in map {
        let Some((_, kind, _)) = known.iter().find(|(name, _, _)| name == key) else {
            let names: Vec<&str> = known.iter().map(|(n, _, _)| *n).collect();
            return Err(format!(
                "unknown field `{key}` in {record_type}.{group} (known: {})",
                names.join(", ")
            ));
        };
        if value.is_null() {
            continue;
        }
        let ok = match kind {
            FieldKind::Text => value.is_string(),
            FieldKind::Number => value.as_f64().is_some_and(|n| n.is_finite()),
            FieldKind::List => value.is_array(),
            FieldKind::Object => value.is_object(),
            FieldKind::Reference => value
                .as_str()
                .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
            FieldKind::Sha256 => value.as_str().is_some_and(|s| {
                s.len() == 64
                    && s.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            }),
            FieldKind::Time => value
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        };
        if !ok {
            let what = match kind {
                FieldKind::Text => "text",
                FieldKind::Number => "a number",
                FieldKind::List => "a list",
                FieldKind::Object => "an object",
                FieldKind::Reference => "a record id (UUID)",
                FieldKind::Sha256 => "a lowercase hex SHA-256",
                FieldKind::Time => "an RFC 3339 time",
            };
            return Err(format!(
                "field `{key}` of {record_type}.{group} must be {what}"
            ));
        }
    }
    if creating {
        for (name, _, required) in known {
            if *required && map.get(*name).is_none_or(Value::is_null) {
                return Err(format!("a new {record_type} needs `{name}` in {group}"));
            }
        }
    }
    Ok(())
}

/// A person's role; what each may do is in the policy file.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Technician,
    Dispatcher,
    Supervisor,
    Finance,
    Office,
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Technician,
        Role::Dispatcher,
        Role::Supervisor,
        Role::Finance,
        Role::Office,
        Role::Admin,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Technician => "technician",
            Role::Dispatcher => "dispatcher",
            Role::Supervisor => "supervisor",
            Role::Finance => "finance",
            Role::Office => "office",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Office roles pull everything; a technician pulls only their own jobs and what hangs off them.
    pub fn sees_everything(&self) -> bool {
        !matches!(self, Role::Technician)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who owns a record: one person or one team.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Owner {
    User(String),
    Team(String),
}

impl Owner {
    /// The compact form stored in a column and written in the policy file: `user:tom`, `team:office`.
    pub fn to_key(&self) -> String {
        match self {
            Owner::User(name) => format!("user:{name}"),
            Owner::Team(name) => format!("team:{name}"),
        }
    }

    pub fn from_key(key: &str) -> Option<Owner> {
        let (kind, name) = key.split_once(':')?;
        if name.is_empty() {
            return None;
        }
        match kind {
            "user" => Some(Owner::User(name.to_string())),
            "team" => Some(Owner::Team(name.to_string())),
            _ => None,
        }
    }

    /// Whether this person is, or belongs to, the owner.
    pub fn includes(&self, author: &Author) -> bool {
        match self {
            Owner::User(name) => *name == author.user,
            Owner::Team(team) => author.team.as_deref() == Some(team.as_str()),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_key())
    }
}

/// The person behind a change, as the server knows them from the device token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Author {
    pub user: String,
    pub role: Role,
    pub team: Option<String>,
}

/// One field group of a record as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupState {
    pub version: i64,
    #[schema(value_type = Object)]
    pub values: Value,
    /// An open conflict on this group: it changes only by a resolution.
    pub contested: bool,
}

/// A record as it stands on the server, the input the judge needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordState {
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub number: Option<String>,
    pub owner: Owner,
    pub owner_epoch: i64,
    /// The lifecycle state.
    pub state: State,
    pub groups: BTreeMap<Group, GroupState>,
    /// Who owned the record under each earlier epoch, to tell an old owner's offline edit
    /// (held) from a stranger's (rejected).
    pub owner_history: BTreeMap<i64, Owner>,
}

impl RecordState {
    pub fn group(&self, group: Group) -> Option<&GroupState> {
        self.groups.get(&group)
    }

    pub fn owner_at(&self, epoch: i64) -> Option<&Owner> {
        if epoch == self.owner_epoch {
            return Some(&self.owner);
        }
        self.owner_history.get(&epoch)
    }
}

/// Merges an update into a group's values: the fields it names replace, the others stay.
pub fn merge_values(current: &Value, update: &Value) -> Value {
    let mut merged: Map<String, Value> = current.as_object().cloned().unwrap_or_default();
    if let Some(update) = update.as_object() {
        for (k, v) in update {
            merged.insert(k.clone(), v.clone());
        }
    }
    Value::Object(merged)
}

/// Who may move a job to another owner.
pub fn may_reassign(role: Role) -> bool {
    role == Role::Dispatcher
}

/// Who may reopen a signed-off or closed job (and so who closes a signed-off one).
pub fn may_reopen(role: Role) -> bool {
    matches!(role, Role::Supervisor | Role::Dispatcher)
}

/// Who may see every device with its owner, last seen and unsynced work.
pub fn may_list_devices(role: Role) -> bool {
    role != Role::Technician
}

/// Who sees the weekly sync review. It names every device and user, like the device list, so the
/// office roles see it and a technician does not.
pub fn may_see_sync_review(role: Role) -> bool {
    role != Role::Technician
}

/// The kinds of item in the review inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewKind {
    Conflict,
    OwnershipMoved,
    PossibleDuplicate,
    VoidVsUpdate,
}

impl ReviewKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReviewKind::Conflict => "conflict",
            ReviewKind::OwnershipMoved => "ownership_moved",
            ReviewKind::PossibleDuplicate => "possible_duplicate",
            ReviewKind::VoidVsUpdate => "void_vs_update",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewKind> {
        match s {
            "conflict" => Some(ReviewKind::Conflict),
            "ownership_moved" => Some(ReviewKind::OwnershipMoved),
            "possible_duplicate" => Some(ReviewKind::PossibleDuplicate),
            "void_vs_update" => Some(ReviewKind::VoidVsUpdate),
            _ => None,
        }
    }
}
