//! A webhook receiver on 127.0.0.1 that records what is posted to it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::HarnessError;

/// One request the receiver got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl WebhookRequest {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    requests: Vec<WebhookRequest>,
    reject_remaining: usize,
    retry_after_secs: u64,
    hang: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State inconsistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Records every request (body as a String, with its path); answers 200
/// unless told to answer 429 first or to hang. Stops when dropped.
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver").field("addr", &self.addr).finish()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every
        // connection task (hung ones included).
        self.task.abort();
    }
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match request.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let (hang, reject) = {
        let mut state = shared.state();
        state.requests.push(WebhookRequest {
            method,
            path,
            headers,
            body,
        });
        let reject = if state.reject_remaining > 0 {
            state.reject_remaining -= 1;
            Some(state.retry_after_secs)
        } else {
            None
        };
        (state.hang, reject)
    };
    shared.arrived.notify_waiters();

    if hang {
        std::future::pending::<()>().await;
    }
    let response = match reject {
        Some(retry_after) => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(hyper::header::RETRY_AFTER, retry_after.to_string())
            .body(Full::new(Bytes::from_static(b"rate limited"))),
        None => Response::builder()
            .status(StatusCode::OK)
            .body(Full::new(Bytes::from_static(b"ok"))),
    };
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

impl WebhookReceiver {
    /// Bind 127.0.0.1 on a free port and start serving.
    pub async fn start() -> Result<WebhookReceiver, HarnessError> {
        let shared = Arc::new(Shared::default());
        let (addr, task) = crate::http::serve_loopback("webhook receiver", Arc::clone(&shared), handle).await?;
        Ok(WebhookReceiver { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT/hook`, the URL to configure as the webhook.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// `http://127.0.0.1:PORT`, for posting to other paths.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order (including those
    /// answered 429 or left hanging).
    pub fn requests(&self) -> Vec<WebhookRequest> {
        self.shared.state().requests.clone()
    }

    /// Bodies of every POST received so far, in arrival order.
    pub fn bodies(&self) -> Vec<String> {
        self.shared
            .state()
            .requests
            .iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.body.clone())
            .collect()
    }

    /// Answer the next `n` requests with 429 and `Retry-After: <secs>`.
    pub fn respond_429_first(&self, n: usize, retry_after_secs: u64) {
        let mut state = self.shared.state();
        state.reject_remaining = n;
        state.retry_after_secs = retry_after_secs;
    }

    /// Never answer any further request (for timeout tests).
    pub fn hang(&self) {
        self.shared.state().hang = true;
    }

    /// Wait until at least `n` requests have arrived; returns them all.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Result<Vec<WebhookRequest>, HarnessError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let requests = self.requests();
            if requests.len() >= n {
                return Ok(requests);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(HarnessError::Timeout(format!(
                    "webhook receiver got {} of {n} requests within {timeout:?}",
                    self.requests().len()
                )));
            }
        }
    }
}
