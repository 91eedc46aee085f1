//! The customers page: the list of customers, and one customer's profile and billing with their
//! policy badges, edited through `edit` (office staff: the profile is last write wins, billing
//! goes to review on a collision).

use fieldsync_core::{Group, RecordType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::ids::parse_id;
use crate::views::{level_of, text, GroupView};
use crate::{App, AppError};

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerView {
    pub id: String,
    pub number: Option<String>,
    pub name: String,
    pub site_address: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerDetail {
    pub id: String,
    pub number: Option<String>,
    pub name: String,
    pub groups: Vec<GroupView>,
    pub sync_label: String,
    pub sync_level: String,
}

/// Which customer the customer page shows.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerArgs {
    pub customer_id: String,
}

impl App {
    pub async fn customers(&self) -> Result<Vec<CustomerView>, AppError> {
        Ok(self
            .active()?
            .records(RecordType::Customer)
            .await?
            .into_iter()
            .map(|v| {
                let profile = v
                    .values
                    .get(&Group::Profile)
                    .cloned()
                    .unwrap_or(Value::Null);
                CustomerView {
                    id: v.record.record_id.to_string(),
                    number: v.record.number.clone(),
                    name: text(&profile, "name").unwrap_or_default(),
                    site_address: text(&profile, "site_address"),
                }
            })
            .collect())
    }

    /// One customer: profile and billing with their badges, and where its sync stands.
    pub async fn customer(&self, customer_id: String) -> Result<CustomerDetail, AppError> {
        let id = parse_id(&customer_id)?;
        let view = self
            .active()?
            .record(id)
            .await?
            .filter(|v| v.record.record_type == RecordType::Customer)
            .ok_or_else(|| AppError::new("not_found", "this customer is not on this device"))?;
        let policy = self.policy().await;
        let name = view
            .values
            .get(&Group::Profile)
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(CustomerDetail {
            id: customer_id,
            number: view.record.number.clone(),
            name,
            groups: self.group_views(RecordType::Customer, &view, &view.record.state, &policy),
            sync_label: view.state.label(self.active()?.now()),
            sync_level: level_of(&view.state).into(),
        })
    }
}
