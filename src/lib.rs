//! Order Service: turns a completed checkout session into an order, stores it, and
//! confirms it to the customer through a transactional outbox.

pub mod app;
pub mod auth;
pub mod checkout;
pub mod config;
pub mod demo;
pub mod domain;
pub mod event_body;
pub mod http;
pub mod orders;
pub mod outbox;
pub mod outbox_admin;
pub mod reconcile;
pub mod reference_checkout;
pub mod storage;
pub mod telemetry;
pub mod webhook_signature;
