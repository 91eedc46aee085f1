//! An invoice's money: its lines' amounts, subtotal, tax and total, computed by one rule that the
//! server's judge (through [`crate::fields::check_group`]), the office app's commands and its
//! screens all use, so a total a form shows is the total the server accepts.
//!
//! Amounts are exact decimals (`rust_decimal`), never sums of floating-point numbers: each
//! line's amount is its quantity times its unit price rounded to the cent (half away from
//! zero, as a till does), the subtotal is the sum of those rounded amounts, a tax given as a
//! rate is the subtotal times the rate rounded to the cent, and the total is subtotal plus tax.
//! On the wire they stay JSON numbers (the fields are fixed); a number is read back as the
//! decimal it was written as (`12.1` is 12.10, not 12.0999…), and a stored amount is compared
//! to the cent, which is how the demo's older floating-point totals (`150 * 0.2`) still add up.
//!
//! Every currency is kept to two decimal places (the cent, penny or eurocent of the currencies
//! the office invoices in); a currency with other minor units would need its own scale here.

use rust_decimal::prelude::ToPrimitive;
/// The exact decimal amounts are kept in, for the crates that show and write them.
pub use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy;
use serde_json::{json, Map, Value};
use std::str::FromStr;

/// The decimal places every amount is kept to.
pub const MONEY_PLACES: u32 = 2;

/// The highest tax rate taken as a rate (percent); a larger figure is surely an amount typed in
/// the wrong box.
pub const MAX_TAX_RATE: u32 = 100;

/// One invoice line with its amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// Quantity times unit price, to the cent.
    pub amount: Decimal,
}

/// How the tax is stated: a rate of the subtotal (20 for 20 % VAT), or an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tax {
    Rate(Decimal),
    Amount(Decimal),
}

/// An invoice's totals, computed from its lines and its tax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub lines: Vec<Line>,
    pub subtotal: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

/// An amount rounded to the cent, half away from zero.
pub fn to_cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(MONEY_PLACES, RoundingStrategy::MidpointAwayFromZero)
}

/// An amount as finance writes it: two decimals, no currency ("192.50").
pub fn money_text(amount: Decimal) -> String {
    format!("{:.2}", to_cents(amount))
}

/// A number as it was written: "12.10", " 3 ", "1e3". `None` for anything else (text, an
/// infinity, a figure too large to be an amount).
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// A JSON number as the decimal it was written as (serde_json writes a float in its shortest
/// exact form, so 0.1 reads back as 0.1); a number given as text is read too.
pub fn decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => parse_decimal(&n.to_string()),
        Value::String(s) => parse_decimal(s),
        _ => None,
    }
}

/// A decimal as the JSON number the wire carries.
pub fn number(amount: Decimal) -> Value {
    amount
        .normalize()
        .to_f64()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// A decimal as a float for a screen to format (never added up again: sums are made here).
pub fn to_f64(amount: Decimal) -> f64 {
    amount.to_f64().unwrap_or_default()
}

/// One line's amount: quantity times unit price, to the cent. `None` when it is too large to
/// be an amount.
pub fn line_amount(quantity: Decimal, unit_price: Decimal) -> Option<Decimal> {
    quantity.checked_mul(unit_price).map(to_cents)
}

/// A line's quantity and unit price checked: a quantity above 0 and a price of 0 or more. `Err`
/// is the sentence about line `n` (1-based).
pub fn line(
    n: usize,
    description: &str,
    quantity: Option<Decimal>,
    unit_price: Option<Decimal>,
) -> Result<Line, String> {
    let quantity = match quantity {
        Some(q) if q > Decimal::ZERO => q,
        Some(_) => return Err(format!("Line {n}'s quantity must be more than 0.")),
        None => return Err(format!("Line {n}'s quantity must be a number.")),
    };
    let unit_price = match unit_price {
        Some(p) if p >= Decimal::ZERO => p,
        Some(_) => return Err(format!("Line {n}'s unit price cannot be negative.")),
        None => return Err(format!("Line {n}'s unit price must be a number.")),
    };
    let amount = line_amount(quantity, unit_price)
        .ok_or_else(|| format!("Line {n}'s amount is too large to be an invoice line."))?;
    Ok(Line {
        description: description.trim().to_string(),
        quantity,
        unit_price,
        amount,
    })
}

/// One stored line: `{description, quantity, unit_price}`, or an older line's `{text, amount}`
/// (read as one of that amount). `Err` is the sentence about line `n` (1-based).
pub fn read_line(n: usize, value: &Value) -> Result<Line, String> {
    let Some(map) = value.as_object() else {
        return Err(format!(
            "Line {n} must have a description, a quantity and a unit price."
        ));
    };
    let field = |key: &str| map.get(key).filter(|v| !v.is_null());
    let description = field("description")
        .or_else(|| field("text"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    match (field("quantity"), field("unit_price")) {
        (None, None) => match field("amount").and_then(decimal) {
            Some(amount) => Ok(Line {
                description: description.trim().to_string(),
                quantity: Decimal::ONE,
                unit_price: amount,
                amount: to_cents(amount),
            }),
            None => Err(format!("Line {n} needs a quantity and a unit price.")),
        },
        (quantity, price) => line(
            n,
            description,
            quantity.and_then(decimal),
            price.and_then(decimal),
        ),
    }
}

/// Every stored line, or the first one's sentence that is not whole.
pub fn read_lines(lines: &[Value]) -> Result<Vec<Line>, String> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| read_line(i + 1, l))
        .collect()
}

/// The totals of these lines with this tax: the one rule for what an invoice adds up to.
/// `Err` is the sentence a person reads (a negative or oversized tax).
pub fn compute(lines: Vec<Line>, tax: Tax) -> Result<Totals, String> {
    let too_large = || "These amounts are too large to be an invoice.".to_string();
    let subtotal = lines
        .iter()
        .try_fold(Decimal::ZERO, |sum, l| sum.checked_add(l.amount))
        .ok_or_else(too_large)?;
    let tax = match tax {
        Tax::Rate(rate) if rate < Decimal::ZERO => {
            return Err("The tax rate cannot be negative.".into())
        }
        Tax::Rate(rate) if rate > Decimal::from(MAX_TAX_RATE) => {
            return Err(format!(
                "A tax rate of {rate} % is more than {MAX_TAX_RATE} %: enter the tax as an amount instead."
            ))
        }
        Tax::Rate(rate) => subtotal
            .checked_mul(rate)
            .map(|t| to_cents(t / Decimal::ONE_HUNDRED))
            .ok_or_else(too_large)?,
        Tax::Amount(amount) if amount < Decimal::ZERO => {
            return Err("The tax cannot be negative.".into())
        }
        Tax::Amount(amount) => to_cents(amount),
    };
    let total = subtotal.checked_add(tax).ok_or_else(too_large)?;
    Ok(Totals {
        lines,
        subtotal,
        tax,
        total,
    })
}

/// The rate (percent, to two places) that gives exactly this tax on this subtotal, if one does:
/// a form reopening a draft shows "20 %" rather than an amount typed by hand.
pub fn rate_of(subtotal: Decimal, tax: Decimal) -> Option<Decimal> {
    if subtotal <= Decimal::ZERO {
        return None;
    }
    let rate = (tax.checked_mul(Decimal::ONE_HUNDRED)? / subtotal)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let again = to_cents(subtotal.checked_mul(rate)? / Decimal::ONE_HUNDRED);
    (again == to_cents(tax)).then(|| rate.normalize())
}

/// The totals group's values for these totals: the lines as `{description, quantity,
/// unit_price}`, and the subtotal, tax, total and currency as the wire has them.
pub fn values(totals: &Totals, currency: &str) -> Value {
    let lines: Vec<Value> = totals
        .lines
        .iter()
        .map(|l| {
            json!({
                "description": l.description,
                "quantity": number(l.quantity),
                "unit_price": number(l.unit_price),
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("lines".into(), Value::Array(lines));
    out.insert("subtotal".into(), number(totals.subtotal));
    out.insert("tax".into(), number(totals.tax));
    out.insert("total".into(), number(totals.total));
    out.insert("currency".into(), Value::String(currency.to_string()));
    Value::Object(out)
}

/// Whether `code` is written as a currency code is (ISO 4217: three capital letters, GBP).
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn d(text: &str) -> Decimal {
        parse_decimal(text).unwrap_or_else(|| panic!("{text} is a number"))
    }

    fn lines(rows: &[(&str, &str)]) -> Vec<Line> {
        rows.iter()
            .enumerate()
            .map(|(i, (q, p))| line(i + 1, "x", Some(d(q)), Some(d(p))).unwrap())
            .collect()
    }

    #[test]
    fn each_line_rounds_to_the_cent_once_and_the_sum_does_not_drift() {
        // Ten lines of 0.1 at 1.00 and a third of a unit at 10: floats would give 0.9999… and
        // 3.3333…; the lines' cents are what the customer reads and what is added.
        let mut rows = vec![("0.1", "1"); 10];
        rows.push(("0.3333", "10"));
        let totals = compute(lines(&rows), Tax::Rate(d("20"))).unwrap();
        assert_eq!(totals.lines[10].amount, d("3.33"));
        assert_eq!(totals.subtotal, d("4.33"));
        assert_eq!(totals.tax, d("0.87"), "4.33 × 20 % = 0.866, to the cent");
        assert_eq!(totals.total, d("5.20"));
        assert_eq!(money_text(totals.total), "5.20");
    }

    #[test]
    fn a_half_cent_rounds_away_from_zero() {
        assert_eq!(line_amount(d("1"), d("0.125")), Some(d("0.13")));
        assert_eq!(line_amount(d("3"), d("0.335")), Some(d("1.01")));
        let t = compute(lines(&[("1", "2.50")]), Tax::Rate(d("5"))).unwrap();
        assert_eq!(t.tax, d("0.13"), "2.50 × 5 % = 0.125");
    }

    #[test]
    fn a_tax_is_a_rate_or_an_amount_and_never_negative() {
        let t = compute(lines(&[("2", "12.50")]), Tax::Amount(d("4.99"))).unwrap();
        assert_eq!(
            (t.subtotal, t.tax, t.total),
            (d("25"), d("4.99"), d("29.99"))
        );
        assert_eq!(
            compute(lines(&[("1", "1")]), Tax::Rate(d("-1"))).unwrap_err(),
            "The tax rate cannot be negative."
        );
        assert_eq!(
            compute(lines(&[("1", "1")]), Tax::Rate(d("150"))).unwrap_err(),
            "A tax rate of 150 % is more than 100 %: enter the tax as an amount instead."
        );
        assert_eq!(rate_of(d("180"), d("36")), Some(d("20")));
        assert_eq!(rate_of(d("180"), d("36.01")), None);
        assert_eq!(rate_of(d("0"), d("0")), None);
    }

    #[test]
    fn stored_lines_read_as_written_and_older_lines_as_one_of_their_amount() {
        let stored = json!([
            {"description": "Valve", "quantity": 2, "unit_price": 12.1},
            {"text": "Labour", "amount": 180.0},
        ]);
        let read = read_lines(stored.as_array().unwrap()).unwrap();
        assert_eq!(read[0].amount, d("24.20"));
        assert_eq!(
            (
                read[1].description.as_str(),
                read[1].quantity,
                read[1].amount
            ),
            ("Labour", d("1"), d("180"))
        );
        assert_eq!(
            read_line(
                3,
                &json!({"description": "x", "quantity": 0, "unit_price": 1})
            )
            .unwrap_err(),
            "Line 3's quantity must be more than 0."
        );
        assert_eq!(
            read_line(
                1,
                &json!({"description": "x", "quantity": 1e300, "unit_price": 1})
            )
            .unwrap_err(),
            "Line 1's quantity must be a number."
        );
        // What is written is what is read back: the values round-trip exactly.
        let totals = compute(read, Tax::Rate(d("20"))).unwrap();
        let v = values(&totals, "GBP");
        assert_eq!(
            v["lines"][0],
            json!({"description": "Valve", "quantity": 2.0, "unit_price": 12.1})
        );
        assert_eq!(
            (v["subtotal"].clone(), v["tax"].clone(), v["total"].clone()),
            (json!(204.2), json!(40.84), json!(245.04))
        );
        let again = read_lines(v["lines"].as_array().unwrap()).unwrap();
        assert_eq!(compute(again, Tax::Amount(d("40.84"))).unwrap(), totals);
    }

    #[test]
    fn currency_codes_are_three_capitals() {
        assert!(is_currency_code("GBP"));
        for bad in ["gbp", "GB", "GBPX", "£", ""] {
            assert!(!is_currency_code(bad), "{bad}");
        }
    }
}
