//! The invoices page: finance's invoices with their totals, and which totals wait for finance's
//! review. It leans on [`crate::inbox`] (an invoice under review is one with an open conflict on
//! its totals).

use fieldsync_core::{Group, RecordId, RecordType, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::views::{shown_state, text};
use crate::{App, AppError};

/// An invoice as finance sees it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceCard {
    pub id: String,
    pub number: Option<String>,
    pub job_number: Option<String>,
    pub state: State,
    pub currency: String,
    pub subtotal: Option<f64>,
    pub tax: Option<f64>,
    pub total: Option<f64>,
    /// Totals have an open conflict waiting for finance.
    pub under_review: bool,
    pub review_id: Option<String>,
    pub sync_label: String,
}

impl App {
    /// Invoices with their totals, and which totals wait for finance's review.
    pub async fn invoices(&self) -> Result<Vec<InvoiceCard>, AppError> {
        let open: Vec<(String, String)> = self
            .inbox()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.kind == "conflict" && r.group.as_deref() == Some("totals"))
            .map(|r| (r.record_id, r.id))
            .collect();
        let mut out = Vec::new();
        for view in self.active()?.records(RecordType::Invoice).await? {
            let totals = view
                .values
                .get(&Group::Totals)
                .cloned()
                .unwrap_or(Value::Null);
            let job_number = match text(&totals, "job_id").and_then(|j| j.parse::<RecordId>().ok())
            {
                Some(job) => self
                    .active()?
                    .record(job)
                    .await?
                    .and_then(|j| j.record.number),
                None => None,
            };
            let id = view.record.record_id.to_string();
            let review = open
                .iter()
                .find(|(record, _)| *record == id)
                .map(|(_, review)| review.clone());
            out.push(InvoiceCard {
                number: view.record.number.clone(),
                job_number,
                state: shown_state(&view),
                currency: text(&totals, "currency").unwrap_or_default(),
                subtotal: totals.get("subtotal").and_then(Value::as_f64),
                tax: totals.get("tax").and_then(Value::as_f64),
                total: totals.get("total").and_then(Value::as_f64),
                under_review: review.is_some(),
                review_id: review,
                sync_label: view.state.label(self.active()?.now()),
                id,
            });
        }
        Ok(out)
    }
}
