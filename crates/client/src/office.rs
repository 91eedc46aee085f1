//! The API beyond sync, as this device: the office's review inbox, resolve, reassign, reopen,
//! a record's history, the devices, the sync review, the policy in force, and the admin's
//! people and devices. Each is a typed
//! call of [`Transport`](crate::Transport) with the types of `core::wire`; a call that finds
//! the server unreachable marks the device unreachable, as a sync round would, so no screen
//! says "Synced" while nothing answers.

use fieldsync_core::accounts::{
    Account, AccountChange, AdminEvent, NewAccount, PasswordChange, PasswordReset,
};
use fieldsync_core::wire::{
    DeviceInfo, PolicyResponse, ReassignOutcome, ReassignRequest, RecordHistory, ReopenRequest,
    ReportParams, ResolveRequest, ResolveResponse, ReviewItem, ReviewParams, SyncReport,
    REVIEW_PAGE,
};
use fieldsync_core::{DeviceId, Outcome, RecordId, RecordType, ReviewId};

use crate::client::SyncClient;
use crate::transport::TransportError;
use crate::ClientResult;

impl SyncClient {
    /// Runs one office call and remembers whether the server answered at all.
    fn answered<T>(&self, answer: Result<T, TransportError>) -> ClientResult<T> {
        self.note_unreachable(&answer);
        if let Err(e) = &answer {
            // Persisted at the next round's end (this is not async); from now on nothing is
            // sent under the refused token.
            self.note_refused_session(e);
        }
        Ok(answer?)
    }

    /// One page of the review inbox for this user's roles, newest first.
    pub async fn review(&self, params: &ReviewParams) -> ClientResult<Vec<ReviewItem>> {
        let token = self.token()?;
        self.answered(self.transport().review(&token, params).await)
    }

    /// The whole review inbox for this user's roles (open items; `all` for resolved ones too),
    /// page after page until one is not full.
    pub async fn inbox(&self, all: bool) -> ClientResult<Vec<ReviewItem>> {
        let mut params = ReviewParams {
            all,
            limit: Some(REVIEW_PAGE),
            before: None,
        };
        let mut items = Vec::new();
        loop {
            let page = self.review(&params).await?;
            let full = page.len() as i64 == REVIEW_PAGE;
            params.before = page.last().map(ReviewItem::cursor);
            items.extend(page);
            if !full {
                return Ok(items);
            }
        }
    }

    pub async fn resolve(
        &self,
        review_id: ReviewId,
        request: &ResolveRequest,
    ) -> ClientResult<ResolveResponse> {
        let token = self.token()?;
        self.answered(self.transport().resolve(&token, review_id, request).await)
    }

    pub async fn reassign(
        &self,
        record_type: RecordType,
        record_id: RecordId,
        request: &ReassignRequest,
    ) -> ClientResult<ReassignOutcome> {
        let token = self.token()?;
        self.answered(
            self.transport()
                .reassign(&token, record_type, record_id, request)
                .await,
        )
    }

    pub async fn reopen(
        &self,
        record_type: RecordType,
        record_id: RecordId,
        request: &ReopenRequest,
    ) -> ClientResult<Outcome> {
        let token = self.token()?;
        self.answered(
            self.transport()
                .reopen(&token, record_type, record_id, request)
                .await,
        )
    }

    pub async fn history(
        &self,
        record_type: RecordType,
        record_id: RecordId,
    ) -> ClientResult<RecordHistory> {
        let token = self.token()?;
        self.answered(
            self.transport()
                .history(&token, record_type, record_id)
                .await,
        )
    }

    pub async fn devices(&self) -> ClientResult<Vec<DeviceInfo>> {
        let token = self.token()?;
        self.answered(self.transport().devices(&token).await)
    }

    pub async fn sync_review(&self, params: &ReportParams) -> ClientResult<SyncReport> {
        let token = self.token()?;
        self.answered(self.transport().report(&token, params).await)
    }

    pub async fn policy_in_force(&self) -> ClientResult<PolicyResponse> {
        let token = self.token()?;
        self.answered(self.transport().policy(&token).await)
    }

    /// Every account, disabled ones too (admin).
    pub async fn accounts(&self) -> ClientResult<Vec<Account>> {
        let token = self.token()?;
        self.answered(self.transport().accounts(&token).await)
    }

    pub async fn add_account(&self, request: &NewAccount) -> ClientResult<Account> {
        let token = self.token()?;
        self.answered(self.transport().add_account(&token, request).await)
    }

    pub async fn change_account(
        &self,
        name: &str,
        change: &AccountChange,
    ) -> ClientResult<Account> {
        let token = self.token()?;
        self.answered(self.transport().change_account(&token, name, change).await)
    }

    pub async fn reset_password(&self, name: &str, password: &str) -> ClientResult<Account> {
        let token = self.token()?;
        let request = PasswordReset {
            password: password.to_string(),
        };
        self.answered(
            self.transport()
                .reset_password(&token, name, &request)
                .await,
        )
    }

    /// The signed-in person's own new password.
    pub async fn change_password(&self, request: &PasswordChange) -> ClientResult<()> {
        let token = self.token()?;
        self.answered(self.transport().change_password(&token, request).await)?;
        self.inner
            .cache
            .set_meta("must_change_password", "")
            .await?;
        Ok(())
    }

    pub async fn revoke_device(&self, device_id: DeviceId) -> ClientResult<()> {
        let token = self.token()?;
        self.answered(self.transport().revoke_device(&token, device_id).await)
    }

    pub async fn admin_log(&self) -> ClientResult<Vec<AdminEvent>> {
        let token = self.token()?;
        self.answered(self.transport().admin_log(&token).await)
    }
}
