//! The policy file: who owns each record type, who may write each field group, and what happens
//! when two versions of a group meet. The server is the authority and sends it to clients.
//!
//! Parsed with `toml_edit` rather than serde so every error names the line and the key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use toml_edit::{ImDocument, Item, Table};

use crate::model::ReviewKind;
use crate::model::{Group, Owner, RecordType, Role};
use crate::state::{State, JOB_STATES};

/// The policy file that ships with Fieldsync: every row of DESIGN.md's table.
pub const DEFAULT_POLICY: &str = include_str!("../../../policy/default.toml");

/// What happens when two versions of a field group meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// Server order decides; the overwritten value stays in the change log.
    LastWriteWins,
    /// Keep both versions; a person with a resolver role chooses.
    ManualReview,
    /// Every write is a new item; an edit of an existing item goes to review.
    AppendOnly,
    /// Only the group's owner writes it, so a stale base is the owner's own later word.
    OwnerOnly,
}

impl PolicyKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            PolicyKind::LastWriteWins => "last_write_wins",
            PolicyKind::ManualReview => "manual_review",
            PolicyKind::AppendOnly => "append_only",
            PolicyKind::OwnerOnly => "owner_only",
        }
    }

    fn parse(s: &str) -> Option<PolicyKind> {
        [
            PolicyKind::LastWriteWins,
            PolicyKind::ManualReview,
            PolicyKind::AppendOnly,
            PolicyKind::OwnerOnly,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Which lane a group's data travels in on the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    Changes,
    Files,
}

/// Who owns a new record of a type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OwnerRule {
    /// A fixed team (`team:office`).
    Fixed(Owner),
    /// The job's `assignee` (from its schedule).
    Assignee,
    /// Whoever created it.
    Author,
    /// The owner of the job it points at.
    JobOwner,
}

/// The rule for one field group of one record type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupRule {
    pub policy: PolicyKind,
    /// Office roles that may write the group besides its owner.
    pub writers: Vec<Role>,
    /// Roles that may resolve a held item on the group.
    pub resolvers: Vec<Role>,
    /// Whether the record's owner writes this group (false for a job's schedule, which
    /// dispatch writes by reassignment).
    pub owner_writes: bool,
    /// Lifecycle states in which the group is locked.
    pub locked_in: Vec<State>,
    pub lane: Lane,
}

/// The rules for one record type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TypeRule {
    pub owner: OwnerRule,
    /// Roles that may create a record of this type.
    pub creators: Vec<Role>,
    /// Roles that may void or archive a record of this type, besides the status group's writers.
    pub voiders: Vec<Role>,
    pub groups: BTreeMap<Group, GroupRule>,
}

/// The whole policy in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    pub types: BTreeMap<RecordType, TypeRule>,
    /// Who resolves the review items that are not a conflict on one group.
    pub review: BTreeMap<String, Vec<Role>>,
}

/// A policy file error that names the line and the key, so an admin can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy line {line}, key `{key}`: {message}")]
pub struct PolicyError {
    pub line: usize,
    pub key: String,
    pub message: String,
}

struct Parser<'a> {
    text: &'a str,
}

impl Parser<'_> {
    fn line_of(&self, span: Option<std::ops::Range<usize>>) -> usize {
        let start = span.map(|s| s.start).unwrap_or(0).min(self.text.len());
        self.text[..start].bytes().filter(|b| *b == b'\n').count() + 1
    }

    fn err(&self, table: &Table, key: &str, path: &str, message: String) -> PolicyError {
        let span = table
            .get_key_value(key)
            .and_then(|(k, item)| k.span().or_else(|| item.span()))
            .or_else(|| table.span());
        PolicyError {
            line: self.line_of(span),
            key: path.to_string(),
            message,
        }
    }

    fn roles(&self, table: &Table, key: &str, path: &str) -> Result<Vec<Role>, PolicyError> {
        let Some(item) = table.get(key) else {
            return Ok(Vec::new());
        };
        let Some(array) = item.as_array() else {
            return Err(self.err(table, key, path, "must be a list of roles".into()));
        };
        let mut roles = Vec::new();
        for value in array.iter() {
            let name = value.as_str().unwrap_or_default();
            let Some(role) = Role::parse(name) else {
                let known: Vec<&str> = Role::ALL.iter().map(Role::as_str).collect();
                return Err(self.err(
                    table,
                    key,
                    path,
                    format!(
                        "unknown role `{}` (known: {})",
                        value.as_str().unwrap_or("(not text)"),
                        known.join(", ")
                    ),
                ));
            };
            roles.push(role);
        }
        Ok(roles)
    }

    fn group_rule(
        &self,
        record_type: RecordType,
        table: &Table,
        path: &str,
    ) -> Result<GroupRule, PolicyError> {
        const KEYS: [&str; 6] = [
            "policy",
            "writers",
            "resolvers",
            "owner_writes",
            "locked_in",
            "lane",
        ];
        for (key, _) in table.iter() {
            if !KEYS.contains(&key) {
                return Err(self.err(
                    table,
                    key,
                    &format!("{path}.{key}"),
                    format!("unknown key (known: {})", KEYS.join(", ")),
                ));
            }
        }
        let policy = match table.get("policy").and_then(Item::as_str) {
            Some(name) => PolicyKind::parse(name).ok_or_else(|| {
                self.err(
                    table,
                    "policy",
                    &format!("{path}.policy"),
                    format!(
                        "unknown policy `{name}` (known: last_write_wins, manual_review, append_only, owner_only)"
                    ),
                )
            })?,
            None => {
                return Err(self.err(
                    table,
                    "policy",
                    &format!("{path}.policy"),
                    "every field group needs a `policy`".into(),
                ))
            }
        };
        let writers = self.roles(table, "writers", &format!("{path}.writers"))?;
        let resolvers = self.roles(table, "resolvers", &format!("{path}.resolvers"))?;
        if policy == PolicyKind::ManualReview && resolvers.is_empty() {
            return Err(self.err(
                table,
                "policy",
                &format!("{path}.resolvers"),
                "a manual_review group needs at least one resolver role".into(),
            ));
        }
        let owner_writes = match table.get("owner_writes") {
            None => true,
            Some(item) => item.as_bool().ok_or_else(|| {
                self.err(
                    table,
                    "owner_writes",
                    &format!("{path}.owner_writes"),
                    "must be true or false".into(),
                )
            })?,
        };
        let mut locked_in = Vec::new();
        if let Some(item) = table.get("locked_in") {
            let valid: &[State] = match record_type {
                // A job's notes, parts, photos and inspections lock with their job.
                t if t.is_job_child() => &JOB_STATES,
                t => t.states(),
            };
            let array = item.as_array().ok_or_else(|| {
                self.err(
                    table,
                    "locked_in",
                    &format!("{path}.locked_in"),
                    "must be a list of states".into(),
                )
            })?;
            for value in array.iter() {
                match value.as_str().and_then(State::parse) {
                    Some(state) if valid.contains(&state) => locked_in.push(state),
                    _ => {
                        return Err(self.err(
                            table,
                            "locked_in",
                            &format!("{path}.locked_in"),
                            format!(
                                "`{}` is not a state of a {record_type} (known: {})",
                                value.as_str().unwrap_or("(not text)"),
                                valid
                                    .iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ))
                    }
                }
            }
        }
        let lane = match table.get("lane").and_then(Item::as_str) {
            None => Lane::Changes,
            Some("changes") => Lane::Changes,
            Some("files") => Lane::Files,
            Some(other) => {
                return Err(self.err(
                    table,
                    "lane",
                    &format!("{path}.lane"),
                    format!("unknown lane `{other}` (known: changes, files)"),
                ))
            }
        };
        Ok(GroupRule {
            policy,
            writers,
            resolvers,
            owner_writes,
            locked_in,
            lane,
        })
    }

    fn type_rule(&self, record_type: RecordType, table: &Table) -> Result<TypeRule, PolicyError> {
        let path = record_type.as_str();
        let mut groups = BTreeMap::new();
        for (key, item) in table.iter() {
            match key {
                "owner" | "creators" | "voiders" => {}
                _ => {
                    let Some(group) = Group::parse(key).filter(|g| record_type.has_group(*g))
                    else {
                        let known: Vec<&str> =
                            record_type.groups().iter().map(Group::as_str).collect();
                        return Err(self.err(
                            table,
                            key,
                            &format!("{path}.{key}"),
                            format!(
                                "a {record_type} has no field group `{key}` (groups: {}; keys: owner, creators, voiders)",
                                known.join(", ")
                            ),
                        ));
                    };
                    let Some(group_table) = item.as_table() else {
                        return Err(self.err(
                            table,
                            key,
                            &format!("{path}.{key}"),
                            format!("write the group as its own table: [{path}.{key}]"),
                        ));
                    };
                    let rule =
                        self.group_rule(record_type, group_table, &format!("{path}.{key}"))?;
                    groups.insert(group, rule);
                }
            }
        }
        for group in record_type.groups() {
            if !groups.contains_key(group) {
                return Err(PolicyError {
                    line: self.line_of(table.span()),
                    key: format!("{path}.{group}"),
                    message: format!(
                        "missing table [{path}.{group}]: every field group needs a rule"
                    ),
                });
            }
        }
        let owner = match table.get("owner").and_then(Item::as_str) {
            Some("assignee") => OwnerRule::Assignee,
            Some("author") => OwnerRule::Author,
            Some("job_owner") => OwnerRule::JobOwner,
            Some(other) => match Owner::from_key(other) {
                Some(owner) => OwnerRule::Fixed(owner),
                None => {
                    return Err(self.err(
                        table,
                        "owner",
                        &format!("{path}.owner"),
                        format!("unknown owner `{other}` (use team:NAME, user:NAME, assignee, author or job_owner)"),
                    ))
                }
            },
            None => {
                return Err(self.err(
                    table,
                    "owner",
                    &format!("{path}.owner"),
                    "every record type needs an `owner`".into(),
                ))
            }
        };
        Ok(TypeRule {
            owner,
            creators: self.roles(table, "creators", &format!("{path}.creators"))?,
            voiders: self.roles(table, "voiders", &format!("{path}.voiders"))?,
            groups,
        })
    }
}

impl Policy {
    /// Parses and validates a policy file; the error names the line and the key.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let doc = ImDocument::parse(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| {
                    text[..s.start.min(text.len())]
                        .bytes()
                        .filter(|b| *b == b'\n')
                        .count()
                        + 1
                })
                .unwrap_or(1);
            // toml_edit leaves the message empty for some errors (a control character in a
            // comment, found by fuzzing); the admin still gets a sentence.
            let message = match e.message().trim() {
                "" => match text
                    .lines()
                    .nth(line - 1)
                    .and_then(|l| l.chars().find(|c| c.is_control() && *c != '\t'))
                {
                    Some(c) => format!(
                        "a control character ({}) is not allowed in a policy file",
                        c.escape_unicode()
                    ),
                    None => "this line is not valid TOML".to_string(),
                },
                message => message.to_string(),
            };
            PolicyError {
                line,
                key: String::new(),
                message,
            }
        })?;
        let parser = Parser { text };
        let root = doc.as_table();
        let mut types = BTreeMap::new();
        let mut review = BTreeMap::new();
        for (key, item) in root.iter() {
            let Some(table) = item.as_table() else {
                return Err(parser.err(root, key, key, "must be a table".into()));
            };
            if key == "review" {
                for (kind, _) in table.iter() {
                    if ReviewKind::parse(kind).is_none() || kind == "conflict" {
                        return Err(parser.err(
                            table,
                            kind,
                            &format!("review.{kind}"),
                            "unknown review kind (known: ownership_moved, possible_duplicate, void_vs_update; a conflict's resolvers are set on its group)".into(),
                        ));
                    }
                    review.insert(
                        kind.to_string(),
                        parser.roles(table, kind, &format!("review.{kind}"))?,
                    );
                }
                continue;
            }
            let Some(record_type) = RecordType::parse(key) else {
                let known: Vec<&str> = RecordType::ALL.iter().map(RecordType::as_str).collect();
                return Err(parser.err(
                    root,
                    key,
                    key,
                    format!("unknown record type (known: {}, review)", known.join(", ")),
                ));
            };
            types.insert(record_type, parser.type_rule(record_type, table)?);
        }
        for record_type in RecordType::ALL {
            if !types.contains_key(&record_type) {
                return Err(PolicyError {
                    line: text.lines().count().max(1),
                    key: record_type.as_str().to_string(),
                    message: format!(
                        "missing table [{record_type}]: every record type needs its rules"
                    ),
                });
            }
        }
        for kind in ["ownership_moved", "possible_duplicate", "void_vs_update"] {
            if review.get(kind).is_none_or(Vec::is_empty) {
                return Err(PolicyError {
                    line: text.lines().count().max(1),
                    key: format!("review.{kind}"),
                    message: "every review kind needs at least one resolver role".into(),
                });
            }
        }
        Ok(Policy { types, review })
    }

    /// The policy that ships with Fieldsync.
    pub fn default_policy() -> Policy {
        // The shipped file is checked by a test, so this cannot fail in a released build.
        Policy::parse(DEFAULT_POLICY)
            .unwrap_or_else(|e| panic!("the shipped policy file is invalid: {e}"))
    }

    pub fn type_rule(&self, record_type: RecordType) -> &TypeRule {
        // `parse` guarantees every record type has a rule.
        &self.types[&record_type]
    }

    pub fn rule(&self, record_type: RecordType, group: Group) -> Option<&GroupRule> {
        self.types.get(&record_type)?.groups.get(&group)
    }

    /// Who may resolve a review item of this kind on this group.
    pub fn resolvers(
        &self,
        kind: ReviewKind,
        record_type: RecordType,
        group: Option<Group>,
    ) -> Vec<Role> {
        match kind {
            ReviewKind::Conflict => group
                .and_then(|g| self.rule(record_type, g))
                .map(|r| r.resolvers.clone())
                .unwrap_or_default(),
            other => self.review.get(other.as_str()).cloned().unwrap_or_default(),
        }
    }

    /// What `role` may resolve: the kinds of item it resolves whatever they are about, and the
    /// groups whose conflicts it resolves. The store filters the inbox by these in its query,
    /// so a page holds the caller's own items however busy other roles' queues are.
    pub fn resolvable_by(&self, role: Role) -> (Vec<ReviewKind>, Vec<(RecordType, Group)>) {
        let kinds = [
            ReviewKind::OwnershipMoved,
            ReviewKind::PossibleDuplicate,
            ReviewKind::VoidVsUpdate,
        ]
        .into_iter()
        .filter(|k| self.resolvers(*k, RecordType::Job, None).contains(&role))
        .collect();
        let mut groups = Vec::new();
        for t in RecordType::ALL {
            for g in t.groups() {
                if self
                    .rule(t, *g)
                    .is_some_and(|r| r.resolvers.contains(&role))
                {
                    groups.push((t, *g));
                }
            }
        }
        (kinds, groups)
    }

    /// One group's rule in plain words, for `fieldsync policy explain` and the app's rules page.
    pub fn explain(&self, record_type: RecordType, group: Group) -> Option<String> {
        let type_rule = self.types.get(&record_type)?;
        let rule = type_rule.groups.get(&group)?;
        let owner = match &type_rule.owner {
            OwnerRule::Fixed(Owner::Team(t)) => format!("the {t} team"),
            OwnerRule::Fixed(Owner::User(u)) => u.clone(),
            OwnerRule::Assignee => "the assigned technician".to_string(),
            OwnerRule::Author => "whoever added it".to_string(),
            OwnerRule::JobOwner => "the job's assigned technician".to_string(),
        };
        let roles = |roles: &[Role]| {
            let names: Vec<&str> = roles.iter().map(Role::as_str).collect();
            names.join(", ")
        };
        let mut out = format!(
            "{record_type}.{group}: {}.\n",
            rule.policy.as_str().replace('_', " ")
        );
        if rule.owner_writes {
            out.push_str(&format!("Owner: {owner}.\n"));
        } else {
            out.push_str(&format!(
                "Owner of the record: {owner}, who does not write this group.\n"
            ));
        }
        if !rule.writers.is_empty() {
            out.push_str(&format!("Also written by: {}.\n", roles(&rule.writers)));
        }
        out.push_str(match rule.policy {
            PolicyKind::LastWriteWins => "When two devices change it from the same version, the one the server receives last wins; the overwritten value stays in the change log.\n",
            PolicyKind::ManualReview => "When two devices change it from the same version, both versions are kept and the group is held for review until someone chooses one or enters a merged value.\n",
            PolicyKind::AppendOnly => "Every addition is a new item, so two devices never collide; an edit of an existing item is held for review.\n",
            PolicyKind::OwnerOnly => "Only its owner writes it, so a later write from the owner replaces the earlier one.\n",
        });
        if !rule.resolvers.is_empty() {
            out.push_str(&format!(
                "Review resolved by: {}.\n",
                roles(&rule.resolvers)
            ));
        }
        if !rule.locked_in.is_empty() {
            out.push_str(&format!(
                "Locked when the {record_type} is {}; a change then is rejected and kept on the device.\n",
                rule.locked_in.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        if rule.lane == Lane::Files {
            out.push_str("Its file travels in the file lane, so it never holds up a status or a signature.\n");
        }
        out.push_str(&format!(
            "Why: {}",
            match rule.policy {
                PolicyKind::LastWriteWins =>
                    "low-risk text; the latest word is almost always the right one.",
                PolicyKind::ManualReview =>
                    "status, money, approvals and labour must never be overwritten silently.",
                PolicyKind::AppendOnly =>
                    "notes, photos, part lines and logs only grow; nothing anyone adds is lost.",
                PolicyKind::OwnerOnly => "it belongs to the record's owner (and the roles named above); anyone else is refused, and between those who may, the newest save wins for the fields it changed, with an open form warned when it moved.",
            }
        ));
        Some(out)
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lane::Changes => "changes",
            Lane::Files => "files",
        })
    }
}
