//! The sync rules page: the policy in force in plain words per record type and field group. The
//! policy itself is read here too, for every page whose badges and forms come from it (the job
//! and customer pages, and `edit`).

use fieldsync_core::{Policy, RecordType};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{App, AppError};

/// One field group's rule in plain words, for the sync rules page.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RuleView {
    pub record_type: String,
    pub group: String,
    pub policy: String,
    pub explanation: String,
}

impl App {
    /// The server's policy, kept for when it is unreachable; the shipped one before the first.
    pub(crate) async fn policy(&self) -> Policy {
        let answer = match self.active() {
            Ok(client) => client.policy_in_force().await.ok(),
            Err(_) => None,
        };
        if let Some(answer) = answer {
            let policy = answer.policy;
            *self.policy.lock().unwrap_or_else(|p| p.into_inner()) = Some(policy.clone());
            return policy;
        }
        self.policy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(Policy::default_policy)
    }

    /// The policy in force, in plain words per record type and field group.
    pub async fn rules(&self) -> Result<Vec<RuleView>, AppError> {
        let policy = self.policy().await;
        let mut out = Vec::new();
        for record_type in RecordType::ALL {
            for group in record_type.groups() {
                if let (Some(rule), Some(explanation)) = (
                    policy.rule(record_type, *group),
                    policy.explain(record_type, *group),
                ) {
                    out.push(RuleView {
                        record_type: record_type.as_str().replace('_', " "),
                        group: group.as_str().into(),
                        policy: rule.policy.as_str().replace('_', " "),
                        explanation: explanation
                            .split_once('\n')
                            .map(|(_, rest)| rest.replace('\n', " "))
                            .unwrap_or_default(),
                    });
                }
            }
        }
        Ok(out)
    }
}
