//! Client-side pacing of IAM requests: every HTTP request the IAM client sends (each
//! attempt, each page) waits for its slot, at most `rate` a second, so that a run stays
//! below the account's throttling rate instead of finding it by being throttled.
//!
//! IAM throttles each account well below the rate a client can send, and publishes no
//! number. The SDK's adaptive retry mode finds the rate by being throttled, and starts
//! from almost nothing after its first throttle (the emulator's rate limit showed runs
//! stalling 20 s at a time); a fixed pace measured better (README, Performance). Throttling
//! that still happens (another client in the account) is retried by the SDK.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::time::Instant;

/// Evenly spaced slots, `1 / rate` apart, shared by every request of one client.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// At most `rate` requests a second (at least 1).
    pub fn new(rate: u32) -> Pacer {
        Pacer {
            interval: Duration::from_secs(1) / rate.max(1),
            next: Mutex::new(None),
        }
    }

    /// Takes the next slot: how long to wait for it.
    pub fn take(&self, now: Instant) -> Duration {
        let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + self.interval);
        slot - now
    }
}

/// An HTTP client whose requests wait for the pacer.
#[derive(Debug, Clone)]
pub struct PacedClient {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
}

impl PacedClient {
    pub fn new(inner: SharedHttpClient, rate: u32) -> PacedClient {
        PacedClient {
            inner,
            pacer: Arc::new(Pacer::new(rate)),
        }
    }
}

impl HttpClient for PacedClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let wait = self.pacer.take(Instant::now());
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_evenly_spaced_and_an_idle_pacer_does_not_bank_them() {
        let pacer = Pacer::new(10);
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..4).map(|_| pacer.take(t0)).collect();
        assert_eq!(
            waits,
            [0, 100, 200, 300].map(Duration::from_millis),
            "four at once: 100 ms apart"
        );
        // Idle for a second: the next one goes at once, the one after 100 ms later.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(pacer.take(later), Duration::ZERO);
        assert_eq!(pacer.take(later), Duration::from_millis(100));
    }
}
