//! Editing a record's field groups from the office: customers (profile and billing) for office
//! staff, a job's work (labour, completion) and description for supervisors. One path for every
//! group, so each save goes to the outbox with its action id and shows its sync state at once;
//! which groups a person may edit comes from the policy in force (the server still judges, and
//! the policy is read by [`crate::rules`]). The job page and the customer page both use it.

use fieldsync_client::client::RecordView;
use fieldsync_client::NewChange;
use fieldsync_core::fields::{check_group, format_of, FieldProblem, Format};
use fieldsync_core::model::{check_values, fields, FieldKind};
use fieldsync_core::policy::PolicyKind;
use fieldsync_core::{Group, Op, Owner, Policy, RecordType, Role, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use ts_rs::TS;

use crate::ids::{parse_action_id, parse_id};
use crate::views::{FieldView, GroupView, SaveResult};
use crate::{App, AppError};

/// An edit of one field group, from a form.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SaveGroupArgs {
    pub record_type: String,
    pub record_id: String,
    pub group: String,
    /// Field name -> what the form gives it: the text typed (numbers are parsed by the command
    /// layer), a time as RFC 3339 (the form turns the person's local time into an instant),
    /// `null` or empty text to clear the field, and invoice lines as a list of
    /// `{description, quantity, unit_price}`. Only the fields the person changed.
    #[ts(type = "Record<string, unknown>")]
    pub values: Value,
    /// Made when the form opened (`new_action_id`): the same form saved twice is one change.
    /// A UUID; anything else is refused.
    pub action_id: Option<String>,
    /// The group's `version` as the form showed it when it opened: the edit is made on what
    /// the person saw, so a newer value that arrived meanwhile goes to review (in a
    /// manual-review group) instead of being overwritten unseen. Left out: the newest.
    #[ts(type = "number | null")]
    pub base_version: Option<i64>,
}

/// A form's values to check against the field rules before anything is sent.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CheckGroupArgs {
    pub record_type: String,
    /// The record the form edits, whose group (as this device has it) the values are laid
    /// over; left out for a record not made yet.
    pub record_id: Option<String>,
    pub group: String,
    /// As [`SaveGroupArgs::values`]: the fields the form changes (or the whole group).
    #[ts(type = "Record<string, unknown>")]
    pub values: Value,
}

/// Whether this person may write this group of this record: a writer role the policy names, or
/// the record's owner (the user, or their team).
pub(crate) fn may_write(
    policy: &Policy,
    record_type: RecordType,
    group: Group,
    owner: &Owner,
    role: Role,
    user: &str,
    team: Option<&str>,
) -> bool {
    let Some(rule) = policy.rule(record_type, group) else {
        return false;
    };
    rule.writers.contains(&role)
        || match owner {
            Owner::User(name) => name == user,
            Owner::Team(name) => Some(name.as_str()) == team,
        }
}

/// The input a form gives a field: its format from the core (so the email input is exactly the
/// field the email rule holds), or its kind; `None` for a field no form edits.
fn input_kind(
    record_type: RecordType,
    group: Group,
    name: &str,
    kind: FieldKind,
) -> Option<&'static str> {
    Some(match format_of(record_type, group, name) {
        Format::Email => "email",
        Format::Phone => "tel",
        Format::Money => "money",
        Format::Hours => "number",
        Format::Quantity => "quantity",
        Format::Time => "time",
        Format::Lines => "lines",
        Format::Plain => "text",
        Format::Other if kind == FieldKind::Number => "number",
        Format::Other => return None,
    })
}

impl App {
    /// Each group of a record with its policy badge, values, and whether this person may edit it.
    pub(crate) fn group_views(
        &self,
        record_type: RecordType,
        view: &RecordView,
        state: &State,
        policy: &Policy,
    ) -> Vec<GroupView> {
        let user = self.client().and_then(|c| c.user());
        let mut groups = Vec::new();
        for group in record_type.groups() {
            let Some(rule) = policy.rule(record_type, *group) else {
                continue;
            };
            let locked = rule.locked_in.contains(state);
            let badge = if locked {
                "locked"
            } else {
                match rule.policy {
                    PolicyKind::LastWriteWins => "last write wins",
                    PolicyKind::ManualReview => "manual review",
                    PolicyKind::AppendOnly => "shared",
                    PolicyKind::OwnerOnly => "owner only",
                }
            };
            // A status moves by its own buttons (the lifecycle's allowed steps), not a form.
            let editable = !locked
                && *group != Group::Status
                && !view.record.read_only
                && user.as_ref().is_some_and(|u| {
                    may_write(
                        policy,
                        record_type,
                        *group,
                        &view.record.owner,
                        u.role,
                        &u.name,
                        u.team.as_deref(),
                    )
                });
            groups.push(GroupView {
                group: group.as_str().into(),
                policy: rule.policy.as_str().into(),
                badge: badge.into(),
                values: view.values.get(group).cloned().unwrap_or(json!({})),
                version: view.bases.get(group).copied().unwrap_or(0),
                editable,
                fields: fields(record_type, *group)
                    .iter()
                    // Who owns a job moves only by reassignment, with its warning first.
                    .filter(|(name, _, _)| *name != "assignee")
                    .filter_map(|(name, kind, _)| {
                        let options = if *group == Group::Status && *name == "state" {
                            record_type
                                .states()
                                .iter()
                                .map(|s| s.as_str().to_string())
                                .collect()
                        } else {
                            Vec::new()
                        };
                        Some(FieldView {
                            name: (*name).into(),
                            label: crate::views::field_label(name),
                            kind: input_kind(record_type, *group, name, *kind)?.into(),
                            options,
                        })
                    })
                    .collect(),
            });
        }
        groups
    }

    /// Saves an edit of one field group to the outbox. The form's action id makes a double
    /// click (or the same form sent twice) one change. Only the fields given are changed; an
    /// emptied one is cleared. The values are typed and held to the core's field rules here,
    /// on the group as this device has it, so a person hears about a typo or a total that does
    /// not add up before anything is queued, in the sentence the server would refuse it with.
    pub async fn save_group(&self, args: SaveGroupArgs) -> Result<SaveResult, AppError> {
        let (record_type, group) = parse_group(&args.record_type, &args.group)?;
        let id = parse_id(&args.record_id)?;
        let change_id = parse_action_id(args.action_id.as_deref())?;
        let view = self
            .active()?
            .record(id)
            .await?
            .ok_or_else(|| AppError::new("not_found", "this record is not on this device"))?;
        let user = self
            .active()?
            .user()
            .ok_or_else(|| AppError::new("unauthenticated", "Sign in first."))?;
        let policy = self.policy().await;
        if view.record.read_only {
            return Err(AppError::new(
                "not_owner",
                "This record is no longer yours to edit: its owner changed.",
            ));
        }
        if !may_write(
            &policy,
            record_type,
            group,
            &view.record.owner,
            user.role,
            &user.name,
            user.team.as_deref(),
        ) {
            return Err(AppError::new(
                "forbidden",
                format!(
                    "A {} may not change a {}'s {}.",
                    user.role.as_str(),
                    record_type.as_str().replace('_', " "),
                    group.as_str()
                ),
            ));
        }
        if args.values.get("assignee").is_some() {
            return Err(AppError::new(
                "invalid_change",
                "A job changes hands by reassignment (Reassign…), which warns about the current owner's unsynced work first.",
            ));
        }
        let values = typed_values(record_type, group, &args.values)
            .map_err(|problems| first_refusal(&problems))?;
        if values.is_empty() {
            return Err(AppError::new(
                "invalid",
                "Nothing to save: no field changed.",
            ));
        }
        let values = Value::Object(values);
        check_values(record_type, group, &values, false)
            .map_err(|message| AppError::new("invalid_change", message))?;
        let current = view.values.get(&group).cloned().unwrap_or(json!({}));
        let problems = check_group(record_type, group, &current, &values);
        if !problems.is_empty() {
            return Err(first_refusal(&problems));
        }
        let change = NewChange {
            change_id,
            record_type,
            record_id: id,
            group: Some(group),
            op: Op::Update,
            values,
            file_sha256: None,
        };
        let (change_id, state) = self.active()?.save_seen(change, args.base_version).await?;
        Ok(SaveResult {
            change_id: change_id.to_string(),
            state_label: state.label(self.active()?.now()),
        })
    }

    /// What is wrong with a form's values, field by field, before it is sent: the same typing
    /// and the same core field rules as [`App::save_group`] (and the server's judge), on the
    /// group as this device has it. Empty when the form may be saved. A form calls it as the
    /// person types, to put each sentence next to its field.
    pub async fn check_group(&self, args: CheckGroupArgs) -> Result<Vec<FieldProblem>, AppError> {
        let (record_type, group) = parse_group(&args.record_type, &args.group)?;
        let current = match args.record_id.as_deref() {
            Some(id) => {
                let id = parse_id(id)?;
                let view = self.active()?.record(id).await?.ok_or_else(|| {
                    AppError::new("not_found", "this record is not on this device")
                })?;
                view.values.get(&group).cloned().unwrap_or(json!({}))
            }
            None => json!({}),
        };
        let values = match typed_values(record_type, group, &args.values) {
            Ok(values) => Value::Object(values),
            Err(problems) => return Ok(problems),
        };
        if let Err(message) = check_values(record_type, group, &values, false) {
            return Ok(vec![FieldProblem {
                field: String::new(),
                message,
            }]);
        }
        Ok(check_group(record_type, group, &current, &values))
    }
}

fn parse_group(record_type: &str, group: &str) -> Result<(RecordType, Group), AppError> {
    let record_type = RecordType::parse(record_type)
        .ok_or_else(|| AppError::new("invalid", format!("`{record_type}` is not a record type")))?;
    let group = Group::parse(group)
        .filter(|g| record_type.has_group(*g))
        .ok_or_else(|| {
            AppError::new("invalid", format!("a {record_type} has no `{group}` group"))
        })?;
    Ok((record_type, group))
}

/// A save refused for its values: the first field's sentence, with the code the server uses.
fn first_refusal(problems: &[FieldProblem]) -> AppError {
    let message = problems
        .first()
        .map(|p| p.message.clone())
        .unwrap_or_else(|| "These values cannot be saved.".into());
    AppError::new("invalid_change", message)
}

/// The form's values as the group's fields want them: text stays text, a number is parsed, a
/// time must be RFC 3339, lines stay a list; `null` or empty text clears the field (a form sends
/// only the fields the person changed, so an empty one was emptied on purpose). Every field
/// that cannot be typed is named, each with its sentence.
pub(crate) fn typed_values(
    record_type: RecordType,
    group: Group,
    form: &Value,
) -> Result<Map<String, Value>, Vec<FieldProblem>> {
    let Some(form) = form.as_object() else {
        return Err(vec![FieldProblem {
            field: String::new(),
            message: "the form's values must be an object".into(),
        }]);
    };
    let known = fields(record_type, group);
    let mut out = Map::new();
    let mut problems = Vec::new();
    for (key, value) in form {
        let Some((_, kind, _)) = known.iter().find(|(name, _, _)| name == key) else {
            problems.push(FieldProblem {
                field: key.clone(),
                message: format!("a {record_type}'s {group} has no field `{key}`"),
            });
            continue;
        };
        match typed_field(key, *kind, value) {
            Ok(typed) => {
                out.insert(key.clone(), typed);
            }
            Err(message) => problems.push(FieldProblem {
                field: key.clone(),
                message,
            }),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// One form value as its field's kind wants it, or the sentence saying why it cannot be.
fn typed_field(key: &str, kind: FieldKind, value: &Value) -> Result<Value, String> {
    if matches!(kind, FieldKind::List | FieldKind::Object) {
        return match value {
            Value::Null => Ok(Value::Null),
            Value::String(s) if s.trim().is_empty() => Ok(Value::Null),
            Value::Array(_) if kind == FieldKind::List => Ok(value.clone()),
            Value::Object(_) if kind == FieldKind::Object => Ok(value.clone()),
            _ => Err(format!(
                "{} must be a list of rows",
                crate::views::field_label(key)
            )),
        };
    }
    let raw = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Null => return Ok(Value::Null),
        other => other.to_string(),
    };
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    Ok(match kind {
        FieldKind::Number => {
            let n = raw
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| {
                    format!(
                        "{} must be a number, not “{raw}”",
                        crate::views::field_label(key)
                    )
                })?;
            // No office form takes a negative amount (hours, money, quantities).
            if n < 0.0 {
                return Err(format!(
                    "{} cannot be negative.",
                    crate::views::field_label(key)
                ));
            }
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| {
                    format!(
                        "{} must be a number, not “{raw}”",
                        crate::views::field_label(key)
                    )
                })?
        }
        FieldKind::Time => {
            let at = chrono::DateTime::parse_from_rfc3339(&raw)
                .or_else(|_| {
                    // A time with no zone (an older caller's datetime-local text) is taken as
                    // UTC; the office UI sends the instant, made from the person's local time.
                    chrono::NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M")
                        .map(|t| t.and_utc().fixed_offset())
                })
                .map_err(|_| {
                    format!(
                        "{} must be a date and time, not “{raw}”",
                        crate::views::field_label(key)
                    )
                })?;
            Value::String(at.with_timezone(&chrono::Utc).to_rfc3339())
        }
        _ => Value::String(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_typed_and_emptied_fields_cleared() {
        let values = typed_values(
            RecordType::Job,
            Group::Work,
            &json!({"labour_hours": " 2.5 ", "completed_at": ""}),
        )
        .expect("valid");
        assert_eq!(
            Value::Object(values),
            json!({"labour_hours": 2.5, "completed_at": null})
        );
        let values = typed_values(
            RecordType::Job,
            Group::Work,
            &json!({"completed_at": "2026-11-26T14:30"}),
        )
        .expect("valid");
        assert_eq!(values["completed_at"], json!("2026-11-26T14:30:00+00:00"));
    }

    #[test]
    fn a_typo_gets_a_sentence_not_a_save() {
        let error = typed_values(
            RecordType::Job,
            Group::Work,
            &json!({"labour_hours": "two"}),
        )
        .expect_err("not a number");
        assert_eq!(error[0].field, "labour_hours");
        assert!(
            error[0].message.contains("Labour hours must be a number"),
            "{}",
            error[0].message
        );
        let error = typed_values(RecordType::Customer, Group::Billing, &json!({"name": "x"}))
            .expect_err("not a billing field");
        assert!(
            error[0].message.contains("no field `name`"),
            "{}",
            error[0].message
        );
    }
}
