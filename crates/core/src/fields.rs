//! Field rules: what a group's values must say beyond each field's kind (an invoice adds up, a
//! window ends after it starts, an email and a phone look like one, a quantity is positive, a
//! required field is not cleared).
//!
//! They live here, in the core, because two places must give the same answer: the server's
//! judge refuses a change that breaks them (`invalid_change`, with the sentence), and the office
//! app checks the form with the same function before it queues anything, so the person reads the
//! server's own sentence next to the field instead of a refusal after sync. Rules that span fields
//! are checked on the group as it would stand after the change (the stored values with the change
//! laid over), and only a rule that involves a field the change names is checked: an update of
//! `total` alone is held against the stored subtotal and tax, and an older stored value that a
//! rule would refuse today does not block an edit of an unrelated field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use rust_decimal::Decimal;

use crate::invoice;
use crate::model::{fields, merge_values, Group, RecordType};

/// One field that breaks a rule, with the sentence a person reads next to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct FieldProblem {
    /// The field the sentence goes next to (for a rule over several, the one that is checked
    /// against the others: `total`, `subtotal`, `window_end`).
    pub field: String,
    pub message: String,
}

/// How a field is written, beyond its kind: what its form input is and which rule holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Email,
    Phone,
    /// An amount of money, in the invoice's currency.
    Money,
    /// Labour, in hours.
    Hours,
    /// A count of parts: more than zero.
    Quantity,
    Time,
    /// An invoice's lines: description, quantity and unit price each.
    Lines,
    /// A field no form edits (ids, hashes, answers).
    Other,
}

/// The format of one field of a group.
pub fn format_of(record_type: RecordType, group: Group, field: &str) -> Format {
    use crate::model::FieldKind;
    match (record_type, group, field) {
        (_, _, "email" | "billing_email") => Format::Email,
        (_, _, "phone") => Format::Phone,
        (RecordType::Invoice, Group::Totals, "lines") => Format::Lines,
        (RecordType::Invoice, Group::Totals, "subtotal" | "tax" | "total") => Format::Money,
        (RecordType::PartLine, Group::Line, "quantity") => Format::Quantity,
        (RecordType::Job, Group::Work, "labour_hours") => Format::Hours,
        _ => match fields(record_type, group)
            .iter()
            .find(|(name, _, _)| *name == field)
            .map(|(_, kind, _)| *kind)
        {
            Some(FieldKind::Text) => Format::Plain,
            Some(FieldKind::Time) => Format::Time,
            _ => Format::Other,
        },
    }
}

fn words(field: &str) -> String {
    field.replace('_', " ")
}

/// Whether `text` looks like an email address: one `@` with something before it and a domain
/// with a dot inside it after it, and no spaces. Deliberately loose (the only proof of an address
/// is a mail that arrives); it catches the typo and the note typed in the wrong box.
pub fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !text.chars().any(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// The fewest digits a phone number has: short enough for a local number, long enough that a
/// word with a digit in it is not taken for one.
pub const PHONE_MIN_DIGITS: usize = 6;

/// Whether `text` looks like a phone number: digits, spaces, `+`, `-`, `(`, `)` and `.`, with at
/// least [`PHONE_MIN_DIGITS`] digits.
pub fn looks_like_phone(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.'))
        && text.chars().filter(char::is_ascii_digit).count() >= PHONE_MIN_DIGITS
}

/// The problems of one group's values once a change is laid over them. `current` is the group as
/// it stands (`{}` for a create), `change` the fields the change names. Every rule that involves
/// a named field is checked on the result; the answer is empty when the change may stand.
pub fn check_group(
    record_type: RecordType,
    group: Group,
    current: &Value,
    change: &Value,
) -> Vec<FieldProblem> {
    let empty = Map::new();
    let named = change.as_object().unwrap_or(&empty);
    let after = merge_values(current, change);
    let after = after.as_object().unwrap_or(&empty);
    let touched = |keys: &[&str]| keys.iter().any(|k| named.contains_key(*k));
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: String| {
        problems.push(FieldProblem {
            field: field.to_string(),
            message,
        })
    };

    // One field at a time: the value the change gives it.
    for (name, value) in named {
        let Some((_, _, required)) = fields(record_type, group)
            .iter()
            .find(|(field, _, _)| field == name)
        else {
            continue;
        };
        let blank = value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty());
        if blank {
            // Any field a record can be without can be cleared; a required one cannot.
            if *required {
                problem(name, format!("The {} cannot be empty.", words(name)));
            }
            continue;
        }
        match (format_of(record_type, group, name), value) {
            (Format::Email, Value::String(s)) if !looks_like_email(s.trim()) => problem(
                name,
                format!(
                    "The {} “{s}” does not look like an email address (like name@example.com).",
                    words(name)
                ),
            ),
            (Format::Phone, Value::String(s)) if !looks_like_phone(s.trim()) => problem(
                name,
                format!(
                    "The {} “{s}” does not look like a phone number: use digits, spaces and + - ( ), at least {PHONE_MIN_DIGITS} digits.",
                    words(name)
                ),
            ),
            (Format::Quantity, v) if !v.as_f64().is_some_and(|q| q > 0.0) => {
                problem(name, format!("The {} must be more than 0.", words(name)))
            }
            (Format::Hours, v) if v.as_f64().is_some_and(|h| h < 0.0) => {
                problem(name, format!("The {} cannot be negative.", words(name)))
            }
            _ => {}
        }
    }

    // A job's window ends after it starts.
    if (record_type, group) == (RecordType::Job, Group::Schedule)
        && touched(&["window_start", "window_end"])
    {
        let time = |key: &str| {
            after
                .get(key)
                .and_then(Value::as_str)
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        };
        if let (Some(start), Some(end)) = (time("window_start"), time("window_end")) {
            if end <= start {
                let field = if named.contains_key("window_end") {
                    "window_end"
                } else {
                    "window_start"
                };
                problem(field, "The window must end after it starts.".to_string());
            }
        }
    }

    // An invoice adds up: each line is whole, the subtotal is the sum of the lines (when it has
    // lines; an invoice without them states its subtotal), the total is subtotal plus tax. The
    // amounts are the core's own (`invoice`): each line to the cent, stored amounts compared to
    // the cent, so floating point never fails a sum a person would call right.
    if (record_type, group) == (RecordType::Invoice, Group::Totals)
        && touched(&["lines", "subtotal", "tax", "total"])
    {
        let money = |key: &str| {
            after
                .get(key)
                .and_then(invoice::decimal)
                .map(invoice::to_cents)
        };
        if let Some(lines) = after.get("lines").and_then(Value::as_array) {
            match invoice::read_lines(lines) {
                Err(message) => {
                    if named.contains_key("lines") {
                        problem("lines", message);
                    }
                }
                Ok(read) if !read.is_empty() && touched(&["lines", "subtotal"]) => {
                    let sum: Decimal = read.iter().map(|l| l.amount).sum();
                    if let Some(subtotal) = money("subtotal") {
                        if subtotal != sum {
                            problem(
                                "subtotal",
                                format!(
                                    "The subtotal ({}) must be the sum of the lines ({}).",
                                    invoice::money_text(subtotal),
                                    invoice::money_text(sum)
                                ),
                            );
                        }
                    }
                }
                Ok(_) => {}
            }
        }
        if let (Some(subtotal), Some(tax), Some(total)) =
            (money("subtotal"), money("tax"), money("total"))
        {
            if total != subtotal + tax {
                problem(
                    "total",
                    format!(
                        "The total ({}) must be the subtotal plus tax ({}).",
                        invoice::money_text(total),
                        invoice::money_text(subtotal + tax)
                    ),
                );
            }
        }
        if let Some(code) = named
            .get("currency")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
        {
            if !invoice::is_currency_code(code.trim()) {
                problem(
                    "currency",
                    format!("The currency “{code}” is not a currency code (three capital letters, like GBP)."),
                );
            }
        }
    }
    problems
}

/// The first problem's sentence, for a refusal that has room for one.
pub fn first_problem(
    record_type: RecordType,
    group: Group,
    current: &Value,
    change: &Value,
) -> Result<(), String> {
    match check_group(record_type, group, current, change)
        .into_iter()
        .next()
    {
        Some(p) => Err(p.message),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn invoice(current: Value, change: Value) -> Vec<FieldProblem> {
        check_group(RecordType::Invoice, Group::Totals, &current, &change)
    }

    fn messages(problems: &[FieldProblem]) -> Vec<(&str, &str)> {
        problems
            .iter()
            .map(|p| (p.field.as_str(), p.message.as_str()))
            .collect()
    }

    #[test]
    fn a_total_alone_is_held_against_the_stored_subtotal_and_tax() {
        let stored = json!({"lines": [{"description": "Boiler service", "quantity": 1, "unit_price": 192.5}],
                            "subtotal": 192.5, "tax": 38.5, "total": 231.0});
        assert_eq!(
            messages(&invoice(stored.clone(), json!({"total": 200}))),
            [(
                "total",
                "The total (200.00) must be the subtotal plus tax (231.00)."
            )]
        );
        assert!(invoice(stored, json!({"total": 231})).is_empty());
    }

    #[test]
    fn the_subtotal_is_the_sum_of_the_lines() {
        let stored = json!({"lines": [], "subtotal": 0, "tax": 0, "total": 0});
        let change = json!({
            "lines": [
                {"description": "Valve", "quantity": 2, "unit_price": 12.5},
                {"description": "Labour", "quantity": 1.5, "unit_price": 60}
            ],
            "subtotal": 100, "tax": 20, "total": 120
        });
        assert_eq!(
            messages(&invoice(stored.clone(), change)),
            [(
                "subtotal",
                "The subtotal (100.00) must be the sum of the lines (115.00)."
            )]
        );
        let change = json!({
            "lines": [{"description": "Valve", "quantity": 2, "unit_price": 12.5}],
            "subtotal": 25, "tax": 5, "total": 30
        });
        assert!(invoice(stored, change).is_empty());
    }

    #[test]
    fn an_older_line_with_its_own_amount_counts_and_cents_round() {
        // The demo's invoices: one line with an amount, tax at 20% in floating point.
        let total = 150.0_f64;
        let values = json!({"lines": [{"text": "Labour", "amount": total}], "subtotal": total,
                            "tax": total * 0.2, "total": total * 1.2});
        assert!(invoice(json!({}), values).is_empty());
        assert!(invoice(json!({"subtotal": 0.1, "tax": 0.2}), json!({"total": 0.3})).is_empty());
    }

    #[test]
    fn a_line_needs_a_positive_quantity_and_a_price() {
        let change = |line: Value| json!({"lines": [line]});
        assert_eq!(
            messages(&invoice(
                json!({}),
                change(json!({"description": "x", "quantity": 0, "unit_price": 5}))
            )),
            [("lines", "Line 1's quantity must be more than 0.")]
        );
        assert_eq!(
            messages(&invoice(
                json!({}),
                change(json!({"description": "x", "quantity": 1, "unit_price": "five"}))
            )),
            [("lines", "Line 1's unit price must be a number.")]
        );
    }

    #[test]
    fn a_window_ends_after_it_starts_even_when_only_one_end_moves() {
        let stored =
            json!({"window_start": "2026-12-01T08:00:00Z", "window_end": "2026-12-01T12:00:00Z"});
        let check = |change: Value| check_group(RecordType::Job, Group::Schedule, &stored, &change);
        assert_eq!(
            messages(&check(json!({"window_end": "2026-11-01T12:00:00Z"}))),
            [("window_end", "The window must end after it starts.")]
        );
        assert_eq!(
            messages(&check(json!({"window_start": "2026-12-01T13:00:00Z"}))),
            [("window_start", "The window must end after it starts.")]
        );
        assert!(check(json!({"window_end": "2026-12-01T14:00:00+01:00"})).is_empty());
        // Cleared: a job may have no window (or only a start).
        assert!(check(json!({"window_end": null})).is_empty());
    }

    #[test]
    fn emails_and_phones_look_like_one() {
        let profile = |change: Value| {
            check_group(
                RecordType::Customer,
                Group::Profile,
                &json!({"name": "Acme"}),
                &change,
            )
        };
        assert_eq!(
            messages(&profile(json!({"phone": "call me maybe"}))),
            [("phone", "The phone “call me maybe” does not look like a phone number: use digits, spaces and + - ( ), at least 6 digits.")]
        );
        assert!(profile(json!({"phone": "+44 (0)20 7946-0999"})).is_empty());
        assert_eq!(
            messages(&check_group(
                RecordType::Customer,
                Group::Billing,
                &json!({}),
                &json!({"billing_email": "not-an-email"})
            )),
            [("billing_email", "The billing email “not-an-email” does not look like an email address (like name@example.com).")]
        );
        for good in ["a@example.com", "accounts.team+bills@north-gate.co.uk"] {
            assert!(looks_like_email(good), "{good}");
        }
        for bad in [
            "a@b",
            "@example.com",
            "a b@example.com",
            "a@.com",
            "a@example.",
            "a@@x.com",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }

    #[test]
    fn a_field_that_is_not_required_can_be_cleared_and_a_required_one_cannot() {
        let profile = json!({"name": "Acme", "phone": "0161 496 0000", "email": "a@example.com"});
        let check =
            |change: Value| check_group(RecordType::Customer, Group::Profile, &profile, &change);
        assert!(check(json!({"phone": null, "email": null, "nickname": ""})).is_empty());
        assert_eq!(
            messages(&check(json!({"name": null}))),
            [("name", "The name cannot be empty.")]
        );
        assert_eq!(
            messages(&check_group(
                RecordType::PartLine,
                Group::Line,
                &json!({"quantity": 2}),
                &json!({"quantity": 0})
            )),
            [("quantity", "The quantity must be more than 0.")]
        );
    }

    #[test]
    fn a_stored_value_that_breaks_a_rule_does_not_block_an_unrelated_field() {
        let stored = json!({"name": "Acme", "phone": "call me maybe"});
        assert!(check_group(
            RecordType::Customer,
            Group::Profile,
            &stored,
            &json!({"nickname": "Ac"})
        )
        .is_empty());
    }

    proptest! {
        /// Whatever the lines, an invoice whose subtotal is their sum and whose total is subtotal
        /// plus tax passes, and moving the total by a cent or more fails with the total named.
        #[test]
        fn invoices_that_add_up_pass_and_a_moved_total_fails(
            lines in proptest::collection::vec((1u32..50, 0u32..100_000), 0..6),
            tax_cents in 0u32..100_000,
            off_cents in prop_oneof![-100_000i64..=-1, 1i64..=100_000],
        ) {
            let lines: Vec<Value> = lines.iter().map(|(q, cents)| json!({
                "description": "part", "quantity": q, "unit_price": f64::from(*cents) / 100.0
            })).collect();
            let subtotal: f64 = lines
                .iter()
                .map(|l| {
                    l["quantity"].as_f64().unwrap_or_default()
                        * l["unit_price"].as_f64().unwrap_or_default()
                })
                .sum();
            let tax = f64::from(tax_cents) / 100.0;
            let good = json!({"lines": lines, "subtotal": subtotal, "tax": tax, "total": subtotal + tax});
            let fresh = invoice(Value::Object(Map::new()), good.clone());
            prop_assert!(fresh.is_empty(), "{:?}", fresh);
            let moved = subtotal + tax + off_cents as f64 / 100.0;
            let problems = invoice(good, json!({"total": moved}));
            prop_assert_eq!(problems.len(), 1);
            prop_assert_eq!(problems[0].field.as_str(), "total");
        }

        /// A phone number written with the allowed marks passes; any letter fails it.
        #[test]
        fn phones_pass_with_digits_and_fail_with_letters(
            digits in "[0-9]{6,12}", letter in "[a-zA-Z]", at in 0usize..6,
        ) {
            let spaced = format!("+{} {}", &digits[..3], &digits[3..]);
            prop_assert!(looks_like_phone(&spaced));
            let mut bad = digits.clone();
            bad.insert_str(at.min(bad.len()), &letter);
            prop_assert!(!looks_like_phone(&bad));
        }
    }
}
