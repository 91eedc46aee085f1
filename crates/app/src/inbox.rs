//! The review inbox: the items this person's role may see, with base, current and incoming side
//! by side and the fields that differ, and resolving one.

use fieldsync_core::wire::{ResolveChoice, ResolveRequest, ReviewItem, VersionSide};
use fieldsync_core::{ReviewKind, Role};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::ids::parse_review_id;
use crate::{App, AppError};

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SideView {
    #[ts(type = "Record<string, unknown>")]
    pub values: Value,
    pub who: Option<String>,
    pub when: Option<String>,
    pub device: Option<String>,
    #[ts(type = "number | null")]
    pub version: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReviewCard {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub record_id: String,
    pub record_number: Option<String>,
    pub group: Option<String>,
    pub base: Option<SideView>,
    pub current: Option<SideView>,
    pub incoming: SideView,
    /// Fields whose current and incoming values differ.
    pub differing: Vec<String>,
    pub matched_number: Option<String>,
    pub created_at: String,
    pub can_resolve: bool,
    pub resolvers: Vec<String>,
    pub allows_merge: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ResolveArgs {
    pub review_id: String,
    /// `current`, `incoming` or `merged`.
    pub choice: String,
    #[ts(type = "Record<string, unknown> | null")]
    pub values: Option<Value>,
    /// The version of the group the card showed as current (its `current.version`): when the
    /// group has moved on since, the choice is refused and the card shows the new picture.
    #[ts(type = "number | null")]
    pub current_version: Option<i64>,
}

impl App {
    /// The review inbox for this user's role, newest first.
    pub async fn inbox(&self) -> Result<Vec<ReviewCard>, AppError> {
        let items: Vec<ReviewItem> = match self.client.inbox(false).await {
            Ok(list) => list,
            Err(_) => self.client.review_items().await?,
        };
        let role = self.role();
        Ok(items
            .into_iter()
            .map(|item| review_card(item, role))
            .collect())
    }

    pub async fn resolve(&self, args: ResolveArgs) -> Result<ReviewCard, AppError> {
        let review_id = parse_review_id(&args.review_id)?;
        let choice = ResolveChoice::parse(&args.choice).ok_or_else(|| {
            AppError::new(
                "invalid",
                format!(
                    "`{}` is not a choice: current, incoming or merged",
                    args.choice
                ),
            )
        })?;
        let request = ResolveRequest {
            choice,
            values: args.values.clone(),
            current_version: args.current_version,
        };
        let item = self.client.resolve(review_id, &request).await?.item;
        let _ = self.client.sync_now().await;
        Ok(review_card(item, self.role()))
    }
}

fn side(side: &VersionSide) -> SideView {
    SideView {
        values: side.values.clone(),
        who: side.author.clone(),
        when: side.server_time.map(|t| t.to_rfc3339()),
        device: side
            .device_name
            .clone()
            .or_else(|| side.device_id.map(|d| d.to_string())),
        version: side.version,
    }
}

fn review_card(item: ReviewItem, role: Option<Role>) -> ReviewCard {
    let what = item
        .group
        .map(|g| g.as_str().replace('_', " "))
        .unwrap_or_else(|| item.record_type.as_str().replace('_', " "));
    let number = item.number.clone().unwrap_or_else(|| "a new record".into());
    let title = match item.kind {
        ReviewKind::Conflict => format!("Two versions of the {what} of {number}"),
        ReviewKind::OwnershipMoved => {
            format!("An edit made by the old owner of {number} after it was reassigned")
        }
        ReviewKind::PossibleDuplicate => format!(
            "{number} may duplicate {}",
            item.matched_number
                .clone()
                .unwrap_or_else(|| "an open job".into())
        ),
        ReviewKind::VoidVsUpdate => format!("{number} was voided and changed at the same time"),
    };
    let mut differing = Vec::new();
    if let (Some(current), incoming) = (&item.current, &item.incoming) {
        if let Some(map) = incoming.values.as_object() {
            for (key, value) in map {
                if current.values.get(key) != Some(value) {
                    differing.push(key.clone());
                }
            }
        }
    }
    ReviewCard {
        id: item.review_id.to_string(),
        kind: item.kind.as_str().into(),
        title,
        record_id: item.record_id.to_string(),
        record_number: item.number.clone(),
        group: item.group.map(|g| g.as_str().into()),
        base: item.base.as_ref().map(side),
        current: item.current.as_ref().map(side),
        incoming: side(&item.incoming),
        differing,
        matched_number: item.matched_number.clone(),
        created_at: item.created_at.to_rfc3339(),
        can_resolve: item.state == "open" && role.is_some_and(|r| item.resolvers.contains(&r)),
        resolvers: item
            .resolvers
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        allows_merge: item.kind == ReviewKind::Conflict,
    }
}
