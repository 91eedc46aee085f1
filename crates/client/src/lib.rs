//! Fieldsync's sync client: a local SQLite cache of the records in scope, a durable outbox, two
//! retry lanes (changes and files), plain sync states, and the match-before-create check.
//!
//! Time and randomness come in from outside ([`Clock`], a seed), so every schedule is tested
//! without waiting on the wall clock. The network is behind [`Transport`], so a test or a
//! simulator can put faults between the client and a real server.

pub mod cache;
pub mod client;
pub mod clock;
mod lanes;
pub mod matching;
mod office;
pub mod outbox;
mod round;
mod saving;
pub mod schedule;
mod session;
pub mod status;
mod text;
pub mod tokens;
pub mod transport;
mod views;

pub use client::{ClientConfig, DeviceHint, NewChange, SyncClient, SyncReport};
pub use clock::{Clock, ManualClock, SystemClock};
pub use outbox::OutboxState;
pub use status::{ChangeState, LaneStatus, SyncStatus};
pub use tokens::{FileTokens, TokenStore};
pub use transport::{HttpTransport, Transport, TransportError};

/// The client's error.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("local store: {0}")]
    Cache(#[from] sqlx::Error),
    #[error("local data could not be read: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Transport(#[from] TransportError),
    #[error("not signed in")]
    NotSignedIn,
    #[error("{0}")]
    Invalid(String),
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
}

impl From<serde_json::Error> for ClientError {
    fn from(e: serde_json::Error) -> ClientError {
        ClientError::Corrupt(e.to_string())
    }
}

pub type ClientResult<T> = Result<T, ClientError>;
