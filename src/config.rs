//! Configuration from the environment (README, Configuration; docs/interface.md §5), with a flag for every variable.

use crate::auth::{AuthSettings, JwksSettings};
use crate::webhook_signature::WebhookSecrets;
use clap::Args;
use clap::builder::BoolishValueParser;
use std::time::Duration;

/// Where the embedded database lives when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://order-service.db";

#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Interface to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = "PORT", default_value_t = 3006)]
    pub port: u16,
    /// `sqlite://path` (created on first start) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Connections in the PostgreSQL pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
    /// Base URL of the Checkout Service.
    #[arg(
        long,
        env = "CHECKOUT_SERVICE_URL",
        default_value = "http://localhost:3005"
    )]
    pub checkout_service_url: String,
    /// Budget in milliseconds for one session lookup, retries included.
    #[arg(long, env = "CHECKOUT_TIMEOUT_MS", default_value_t = 5000)]
    pub checkout_timeout_ms: u64,
    /// Connect timeout in milliseconds towards the Checkout Service.
    #[arg(long, env = "CHECKOUT_CONNECT_TIMEOUT_MS", default_value_t = 1000)]
    pub checkout_connect_timeout_ms: u64,
    /// Base URL of the Notification service; unset: confirmations stay queued.
    #[arg(long, env = "NOTIFICATION_SERVICE_URL")]
    pub notification_service_url: Option<String>,
    /// Timeout in milliseconds of one confirmation delivery attempt.
    #[arg(long, env = "NOTIFICATION_TIMEOUT_MS", default_value_t = 5000)]
    pub notification_timeout_ms: u64,
    /// NATS server; when set, every outbox event is also published to JetStream.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// How often the outbox worker looks for due events, in milliseconds.
    #[arg(long, env = "OUTBOX_POLL_MS", default_value_t = 500)]
    pub outbox_poll_ms: u64,
    /// Milliseconds new confirmations gather before the worker claims them, and outcomes
    /// before they are recorded: fewer, larger write transactions beside order creation.
    #[arg(long, env = "OUTBOX_BATCH_WAIT_MS", default_value_t = 100)]
    pub outbox_batch_wait_ms: u64,
    /// Seconds an instance holds a claimed outbox event before others may take it over.
    #[arg(long, env = "OUTBOX_LEASE_SECS", default_value_t = 30)]
    pub outbox_lease_secs: u64,
    /// First retry delay of a failed confirmation, in milliseconds (doubles, with jitter).
    #[arg(long, env = "OUTBOX_RETRY_BASE_MS", default_value_t = 1000)]
    pub outbox_retry_base_ms: u64,
    /// Longest wait between two attempts at one event, in seconds.
    #[arg(long, env = "OUTBOX_RETRY_MAX_DELAY_SECS", default_value_t = 300)]
    pub outbox_retry_max_delay_secs: u64,
    /// Age (hours, fractions allowed) after which an undelivered event is parked as FAILED.
    #[arg(long, env = "OUTBOX_GIVE_UP_HOURS", default_value_t = 72.0)]
    pub outbox_give_up_hours: f64,
    /// Days delivered events and their attempts are kept before deletion (fractions allowed).
    #[arg(long, env = "OUTBOX_RETENTION_DAYS", default_value_t = 7.0)]
    pub outbox_retention_days: f64,
    /// CPU pressure (percent of wall time in which some task waited for a CPU, Linux PSI)
    /// above which confirmation delivery gives way to order creation; 0: never.
    #[arg(long, env = "OUTBOX_CPU_PRESSURE_LIMIT", default_value_t = 45.0)]
    pub outbox_cpu_pressure_limit: f64,
    /// Confirmations per second still delivered while the CPU pressure is above the limit.
    #[arg(long, env = "OUTBOX_PACED_RATE", default_value_t = 100)]
    pub outbox_paced_rate: u32,
    /// The PSI file that pressure is read from; unset: the cgroup's `cpu.pressure` when
    /// `/sys/fs/cgroup` has one (cgroup v2, a container's own), else `/proc/pressure/cpu`.
    #[arg(long, env = "OUTBOX_CPU_PRESSURE_FILE")]
    pub outbox_cpu_pressure_file: Option<std::path::PathBuf>,
    /// Standard Webhooks signing secret(s) of confirmations: `whsec_<base64>` or a raw
    /// string; several, comma-separated, to rotate.
    #[arg(long, env = "NOTIFICATION_SIGNING_SECRET", hide_env_values = true)]
    pub notification_signing_secret: Option<String>,
    /// Standard Webhooks secret(s) of the Checkout Service's events (`whsec_<base64>` or a
    /// raw string; several comma-separated while rotating). Unset: the endpoint answers 503.
    #[arg(long, env = "CHECKOUT_WEBHOOK_SECRET", hide_env_values = true)]
    pub checkout_webhook_secret: Option<String>,
    /// Seconds between reconciliation sweeps of completed checkout sessions; unset: off.
    #[arg(long, env = "RECONCILE_INTERVAL_SECS")]
    pub reconcile_interval_secs: Option<u64>,
    /// How far before its watermark a sweep looks again, for sessions committed late.
    #[arg(long, env = "RECONCILE_OVERLAP_SECS", default_value_t = 300)]
    pub reconcile_overlap_secs: u64,
    /// HS256 secret of the bearer tokens.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// JSON Web Key Set of the identity provider (RS256, ES256, EdDSA tokens, by `kid`).
    #[arg(long, env = "JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,
    /// Seconds between scheduled refreshes of the key set.
    #[arg(long, env = "JWT_JWKS_REFRESH_SECS", default_value_t = 300)]
    pub jwt_jwks_refresh_secs: u64,
    /// When set, a token's `iss` must equal it.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// When set, a token's `aud` must contain it; unset, `aud` is not checked.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[arg(long, env = "JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,
    /// JSON Pointer to the token's array of roles (Keycloak: `/realm_access/roles`).
    #[arg(long, env = "JWT_ROLES_CLAIM", default_value = "/roles")]
    pub jwt_roles_claim: String,
    /// The role that may read and change any order (exact match).
    #[arg(long, env = "JWT_ADMIN_ROLE", default_value = "admin")]
    pub jwt_admin_role: String,
    /// Accept every request as an admin without a token (local development only).
    #[arg(long, env = "AUTH_DISABLED", default_value = "false", value_parser = BoolishValueParser::new())]
    pub auth_disabled: bool,
    /// Comma-separated origins allowed by CORS.
    #[arg(long, env = "CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Most lines one checkout session may hold; more is `CHECKOUT_SESSION_INVALID`.
    #[arg(long, env = "MAX_ITEMS_PER_ORDER", default_value_t = 500)]
    pub max_items_per_order: usize,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    pub body_limit_bytes: usize,
    /// Longest a request may take before it is answered 503, in milliseconds.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 15000)]
    pub request_timeout_ms: u64,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 8)]
    pub shutdown_grace_secs: u64,
    /// `text` or `json` logs.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "neither JWT_SECRET nor JWT_JWKS_URL is set: set JWT_JWKS_URL to your identity \
         provider's key set, JWT_SECRET to the HS256 secret of your bearer tokens, \
         or AUTH_DISABLED=true to run without authentication (development only)"
    )]
    MissingJwtSecret,
    #[error("NOTIFICATION_SIGNING_SECRET: {0}")]
    BadSigningSecret(crate::webhook_signature::SecretError),
    #[error("OUTBOX_GIVE_UP_HOURS and OUTBOX_RETENTION_DAYS must be positive numbers")]
    BadOutboxAge,
    #[error(
        "OUTBOX_CPU_PRESSURE_LIMIT must be a percentage from 0 (never paced) to 100, \
         and OUTBOX_PACED_RATE at least 1"
    )]
    BadOutboxPacing,
    #[error("CHECKOUT_WEBHOOK_SECRET: {0}")]
    BadWebhookSecret(#[from] crate::webhook_signature::SecretError),
    #[error("JWT_ROLES_CLAIM must be a JSON Pointer such as /roles or /realm_access/roles")]
    RolesClaimNotAPointer,
    #[error("MAX_ITEMS_PER_ORDER must be at least 1")]
    NoItemsAllowed,
}

impl Config {
    /// `CHECKOUT_WEBHOOK_SECRET` parsed; `None` when unset or blank.
    pub fn checkout_webhook_secrets(
        &self,
    ) -> Result<Option<WebhookSecrets>, crate::webhook_signature::SecretError> {
        match self.checkout_webhook_secret.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => WebhookSecrets::parse(text).map(Some),
        }
    }

    /// `RECONCILE_INTERVAL_SECS` as a duration; `None` (also for 0): no periodic sweep.
    pub fn reconcile_interval(&self) -> Option<Duration> {
        self.reconcile_interval_secs
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
    }

    /// Refuses configurations the service must not start with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth_settings().is_none() && !self.auth_disabled {
            return Err(ConfigError::MissingJwtSecret);
        }
        self.signing_secrets()?;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.outbox_give_up_hours) || !positive(self.outbox_retention_days) {
            return Err(ConfigError::BadOutboxAge);
        }
        if !(0.0..=100.0).contains(&self.outbox_cpu_pressure_limit) || self.outbox_paced_rate == 0 {
            return Err(ConfigError::BadOutboxPacing);
        }
        if !self.jwt_roles_claim.is_empty() && !self.jwt_roles_claim.starts_with('/') {
            return Err(ConfigError::RolesClaimNotAPointer);
        }
        if self.max_items_per_order == 0 {
            return Err(ConfigError::NoItemsAllowed);
        }
        self.checkout_webhook_secrets()?;
        Ok(())
    }

    /// The parsed `NOTIFICATION_SIGNING_SECRET`, `None` when unset or blank.
    pub fn signing_secrets(
        &self,
    ) -> Result<Option<crate::webhook_signature::WebhookSecrets>, ConfigError> {
        match self.notification_signing_secret.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => crate::webhook_signature::WebhookSecrets::parse(text)
                .map(Some)
                .map_err(ConfigError::BadSigningSecret),
        }
    }

    /// How bearer tokens are checked; `None` when neither a secret nor a key set is set.
    pub fn auth_settings(&self) -> Option<AuthSettings> {
        fn set(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let secret = set(&self.jwt_secret).map(str::to_owned);
        let jwks = set(&self.jwt_jwks_url).map(|url| {
            JwksSettings::new(url, Duration::from_secs(self.jwt_jwks_refresh_secs.max(1)))
        });
        if secret.is_none() && jwks.is_none() {
            return None;
        }
        Some(AuthSettings {
            secret,
            jwks,
            issuer: set(&self.jwt_issuer).map(str::to_owned),
            audience: set(&self.jwt_audience).map(str::to_owned),
            leeway_secs: self.jwt_leeway_secs,
            roles_claim: self.jwt_roles_claim.trim().to_owned(),
            admin_role: self.jwt_admin_role.clone(),
        })
    }

    /// How confirmation delivery gives way to order creation; `None`: never.
    pub fn outbox_pacing(&self) -> Option<crate::outbox::PacingConfig> {
        (self.outbox_cpu_pressure_limit > 0.0).then(|| crate::outbox::PacingConfig {
            pressure_limit: self.outbox_cpu_pressure_limit / 100.0,
            paced_rate: f64::from(self.outbox_paced_rate),
            pressure_file: self
                .outbox_cpu_pressure_file
                .clone()
                .unwrap_or_else(crate::outbox::PacingConfig::system_pressure_file),
        })
    }

    pub fn checkout_timeout(&self) -> Duration {
        Duration::from_millis(self.checkout_timeout_ms)
    }

    pub fn cors_origins(&self) -> Vec<String> {
        self.cors_origins
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Defaults for everything, as if no environment variable were set; for tests and tools.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        let mut config = <Only as clap::Parser>::parse_from(["order-service"]).config;
        // Environment values would leak into tests; put back the documented defaults.
        config.host = "127.0.0.1".into();
        config.port = 0;
        config.database_url = DEFAULT_DATABASE_URL.into();
        config.notification_service_url = None;
        config.nats_url = None;
        config.jwt_secret = None;
        config.notification_signing_secret = None;
        config.jwt_jwks_url = None;
        config.jwt_jwks_refresh_secs = 300;
        config.jwt_issuer = None;
        config.jwt_audience = None;
        config.jwt_leeway_secs = 30;
        config.jwt_roles_claim = "/roles".into();
        config.jwt_admin_role = "admin".into();
        config.max_items_per_order = 500;
        config.auth_disabled = false;
        config.cors_origins = None;
        config.checkout_webhook_secret = None;
        config.reconcile_interval_secs = None;
        config.outbox_cpu_pressure_limit = 45.0;
        config.outbox_paced_rate = 100;
        config.outbox_cpu_pressure_file = None;
        config
    }
}
