//! What every handler shares: the database pool, settings, token keys, and a
//! channel to each back-end service.

use std::sync::Arc;

use tonic::transport::Channel;
use zhenggai_common::identity::{TokenSigner, TokenVerifier};
use zhenggai_proto::catalogue::v1::catalogue_service_client::CatalogueServiceClient;
use zhenggai_proto::clock::v1::clock_service_client::ClockServiceClient;
use zhenggai_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use zhenggai_proto::notifier::v1::notifier_service_client::NotifierServiceClient;
use zhenggai_proto::scheduler::v1::scheduler_service_client::SchedulerServiceClient;

use crate::auth;
use crate::config::Settings;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub config: Arc<Settings>,
    pub signer: TokenSigner,
    pub verifier: TokenVerifier,
    /// Permits for password checks (see [`LockoutConfig::concurrent_checks`]).
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// Accounts known to be locked (see [`auth::Lockouts`]).
    pub lockouts: Arc<auth::Lockouts>,
    /// Tokens lately found current (see [`auth::CurrentTokens`]).
    pub current_tokens: Arc<auth::CurrentTokens>,
    pub(crate) catalogue: Channel,
    pub(crate) ledger: Channel,
    pub(crate) scheduler: Channel,
    pub(crate) notifier: Channel,
}

impl AppState {
    pub fn catalogue(&self) -> CatalogueServiceClient<Channel> {
        CatalogueServiceClient::new(self.catalogue.clone())
            .max_decoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
    }

    pub fn ledger(&self) -> LedgerServiceClient<Channel> {
        LedgerServiceClient::new(self.ledger.clone())
            .max_decoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
    }

    pub fn notifier(&self) -> NotifierServiceClient<Channel> {
        NotifierServiceClient::new(self.notifier.clone())
    }

    pub fn scheduler(&self) -> SchedulerServiceClient<Channel> {
        SchedulerServiceClient::new(self.scheduler.clone())
    }

    /// The clock service of every back-end service (the drill clock is set
    /// in all of them).
    pub fn clocks(&self) -> Vec<ClockServiceClient<Channel>> {
        [
            &self.catalogue,
            &self.ledger,
            &self.scheduler,
            &self.notifier,
        ]
        .into_iter()
        .map(|channel| ClockServiceClient::new(channel.clone()))
        .collect()
    }
}
