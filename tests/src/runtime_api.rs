//! A Lambda Runtime API on 127.0.0.1, to run a built `bootstrap` the way Lambda does.
//!
//! The runtime long-polls `GET /2018-06-01/runtime/invocation/next`, which hands out
//! the events queued by [`RuntimeApi::invoke`] with the headers lambda_runtime needs
//! (it panics without `Lambda-Runtime-Aws-Request-Id` and `Lambda-Runtime-Deadline-Ms`),
//! and answers with `POST .../invocation/{id}/response` or `.../{id}/error`. A failed
//! cold start posts `/2018-06-01/runtime/init/error`. Nothing else of Lambda (the Invoke
//! API, logs, extensions) is emulated.
//! [`crate::LambdaCommand`] starts a `bootstrap` under a Runtime API of its own.
//!
//! After the last invocation `/next` stays open, as in Lambda between invocations; stop
//! the runtime process by its PID.
//!
//! ```no_run
//! # async fn demo() -> Result<(), iam_janitor_harness::HarnessError> {
//! use iam_janitor_harness::{Outcome, RuntimeApi};
//! let api = RuntimeApi::start().await?;
//! // spawn the bootstrap with AWS_LAMBDA_RUNTIME_API=<api.address()> ...
//! let outcome = api
//!     .invoke(serde_json::json!({"source": "aws.events"}), std::time::Duration::from_secs(60))
//!     .await?;
//! assert!(matches!(outcome, Outcome::Response(_)));
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::{DEFAULT_ACCOUNT_ID, HarnessError};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /invocation/{id}/response`: the handler's result.
    Response(Value),
    /// `POST /invocation/{id}/error`: `{"errorType": ..., "errorMessage": ...}`.
    Error(Value),
    /// `POST /init/error`: the cold start failed (before or during this invocation).
    InitError(Value),
}

/// One queued event.
struct Invocation {
    request_id: String,
    event: Value,
    deadline_ms: u128,
}

struct Shared {
    /// Events not yet handed out; `/next` waits on it (cancel-safe).
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    enqueue: mpsc::UnboundedSender<Invocation>,
    /// Invocations handed out (or queued) and not answered yet.
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: watch::Sender<Option<Value>>,
    /// `GET /next` requests received.
    polls: AtomicU64,
    next_id: AtomicU64,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, HashMap<String, oneshot::Sender<Outcome>>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The Runtime API server. Stops when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi").field("addr", &self.addr).finish()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection
        // task, the open `/next` long poll included.
        self.task.abort();
    }
}

fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn parse_body(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    shared.polls.fetch_add(1, Ordering::SeqCst);
    let invocation = {
        let mut queue = shared.queue.lock().await;
        queue.recv().await
    };
    let Some(invocation) = invocation else {
        return reply(
            StatusCode::GONE,
            &json!({"errorMessage": "the runtime API is shutting down"}),
        );
    };
    let arn = format!(
        "arn:aws:lambda:us-east-1:{DEFAULT_ACCOUNT_ID}:function:{}",
        RuntimeApi::FUNCTION_NAME
    );
    let trace = format!(
        "Root=1-00000000-{:024x};Parent=0000000000000000;Sampled=0",
        invocation.deadline_ms
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header("Lambda-Runtime-Aws-Request-Id", &invocation.request_id)
        .header("Lambda-Runtime-Deadline-Ms", invocation.deadline_ms.to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", arn)
        .header("Lambda-Runtime-Trace-Id", trace)
        .body(Full::new(Bytes::from(invocation.event.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    if method == Method::GET && path == NEXT {
        return Ok(next(&shared).await);
    }
    if method != Method::POST {
        return Ok(reply(StatusCode::NOT_FOUND, &json!({"errorMessage": "not found"})));
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => parse_body(&collected.to_bytes()),
        Err(e) => return Ok(reply(StatusCode::BAD_REQUEST, &json!({"errorMessage": e.to_string()}))),
    };
    if path == INIT_ERROR {
        shared.init_error.send_replace(Some(body));
        return Ok(reply(StatusCode::ACCEPTED, &json!({"status": "OK"})));
    }
    let Some(rest) = path.strip_prefix(INVOCATION) else {
        return Ok(reply(StatusCode::NOT_FOUND, &json!({"errorMessage": "not found"})));
    };
    let outcome = match rest.rsplit_once('/') {
        Some((id, "response")) => Some((id, Outcome::Response(body))),
        Some((id, "error")) => Some((id, Outcome::Error(body))),
        _ => None,
    };
    let Some((id, outcome)) = outcome else {
        return Ok(reply(StatusCode::NOT_FOUND, &json!({"errorMessage": "not found"})));
    };
    let Some(waiter) = shared.pending().remove(id) else {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            &json!({"errorType": "InvalidRequestID", "errorMessage": format!("unknown or answered request id {id}")}),
        ));
    };
    // The invoker may have given up (timeout); the answer is dropped then.
    let _ = waiter.send(outcome);
    Ok(reply(StatusCode::ACCEPTED, &json!({"status": "OK"})))
}

impl RuntimeApi {
    /// The function name in the invoked function ARN (`AWS_LAMBDA_FUNCTION_NAME`).
    pub const FUNCTION_NAME: &'static str = "iam-janitor";

    /// Bind 127.0.0.1 on a free port and start serving.
    pub async fn start() -> Result<RuntimeApi, HarnessError> {
        let (enqueue, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(queue),
            enqueue,
            pending: Mutex::new(HashMap::new()),
            init_error: watch::Sender::new(None),
            polls: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        });
        let (addr, task) = crate::http::serve_loopback("runtime API", Arc::clone(&shared), handle).await?;
        Ok(RuntimeApi { addr, shared, task })
    }

    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API` (no scheme).
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// How many `GET /next` requests arrived so far (the first one means the runtime
    /// finished its cold start).
    pub fn polls(&self) -> u64 {
        self.shared.polls.load(Ordering::SeqCst)
    }

    /// The body of `POST /init/error`, if the cold start failed.
    pub fn init_error(&self) -> Option<Value> {
        self.shared.init_error.borrow().clone()
    }

    /// Queue `event` and wait until the runtime answers it (or reports an init error),
    /// at most `timeout`, which is also the invocation's deadline.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Outcome, HarnessError> {
        let serial = self.shared.next_id.fetch_add(1, Ordering::SeqCst);
        let request_id = format!("00000000-0000-4000-8000-{serial:012x}");
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let (answer, answered) = oneshot::channel();
        self.shared.pending().insert(request_id.clone(), answer);
        let mut init_error = self.shared.init_error.subscribe();
        self.shared
            .enqueue
            .send(Invocation {
                request_id: request_id.clone(),
                event,
                deadline_ms: now_ms + timeout.as_millis(),
            })
            .map_err(|_| HarnessError::Other("the runtime API is shut down".to_string()))?;

        let outcome = tokio::select! {
            outcome = answered => outcome.map_err(|_| HarnessError::Other(format!("invocation {request_id} was dropped"))),
            failed = init_error.wait_for(Option::is_some) => match failed {
                Ok(body) => Ok(Outcome::InitError(body.clone().unwrap_or(Value::Null))),
                Err(_) => Err(HarnessError::Other("the runtime API is shut down".to_string())),
            },
            () = tokio::time::sleep(timeout) => Err(HarnessError::Timeout(format!(
                "invocation {request_id} not answered within {timeout:?} ({} GET /next so far)",
                self.polls()
            ))),
        };
        self.shared.pending().remove(&request_id);
        outcome
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::http::HttpClient;

    const T: Duration = Duration::from_secs(10);

    /// Plays the runtime's side of one invocation: GET /next, then POST `suffix`.
    async fn runtime_answers(base: String, suffix: &'static str, body: &'static str) -> hyper::HeaderMap {
        let http = HttpClient::new();
        let next = http.send(Method::GET, &format!("{base}{NEXT}"), None, T).await.unwrap();
        assert_eq!(next.status, 200);
        let id = next.headers["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let url = format!("{base}{INVOCATION}{id}/{suffix}");
        let posted = http
            .send(Method::POST, &url, Some(body.as_bytes().to_vec()), T)
            .await
            .unwrap();
        assert_eq!(posted.status, 202);
        // A second answer to the same invocation is refused.
        let again = http.send(Method::POST, &url, Some(b"{}".to_vec()), T).await.unwrap();
        assert_eq!(again.status, 400);
        let mut headers = next.headers;
        headers.insert("x-event", next.body.to_vec().try_into().unwrap());
        headers
    }

    #[tokio::test]
    async fn hands_out_events_and_records_responses_and_errors() {
        let api = RuntimeApi::start().await.unwrap();
        let base = format!("http://{}", api.address());
        assert!(api.address().starts_with("127.0.0.1:"));

        let runtime = tokio::spawn(runtime_answers(base.clone(), "response", r#"{"ok":true}"#));
        let outcome = api.invoke(json!({"n": 1}), T).await.unwrap();
        assert_eq!(outcome, Outcome::Response(json!({"ok": true})));
        let headers = runtime.await.unwrap();
        assert_eq!(headers["x-event"], r#"{"n":1}"#);
        for name in [
            "lambda-runtime-aws-request-id",
            "lambda-runtime-deadline-ms",
            "lambda-runtime-invoked-function-arn",
            "lambda-runtime-trace-id",
        ] {
            assert!(headers.contains_key(name), "{name} missing: {headers:?}");
        }
        let deadline: u128 = headers["lambda-runtime-deadline-ms"].to_str().unwrap().parse().unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
        assert!(deadline > now && deadline <= now + T.as_millis(), "{deadline} vs {now}");
        assert!(
            headers["lambda-runtime-invoked-function-arn"]
                .to_str()
                .unwrap()
                .ends_with(":function:iam-janitor")
        );

        let runtime = tokio::spawn(runtime_answers(
            base.clone(),
            "error",
            r#"{"errorType":"Boom","errorMessage":"no"}"#,
        ));
        let outcome = api.invoke(json!({"n": 2}), T).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Error(json!({"errorType": "Boom", "errorMessage": "no"}))
        );
        runtime.await.unwrap();
        assert_eq!(api.polls(), 2);
        assert_eq!(api.init_error(), None);
    }

    #[tokio::test]
    async fn init_errors_end_waiting_invocations_and_unanswered_ones_time_out() {
        let api = RuntimeApi::start().await.unwrap();
        let base = format!("http://{}", api.address());
        let timed_out = api.invoke(json!({}), Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(timed_out, HarnessError::Timeout(_)), "{timed_out}");

        let http = HttpClient::new();
        let poster = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let body = br#"{"errorType":"Init","errorMessage":"bad IAM_JANITOR_DORMANT_DAYS"}"#.to_vec();
            http.send(Method::POST, &format!("{base}{INIT_ERROR}"), Some(body), T)
                .await
                .unwrap()
                .status
        });
        let outcome = api.invoke(json!({}), T).await.unwrap();
        let Outcome::InitError(body) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(body["errorMessage"], "bad IAM_JANITOR_DORMANT_DAYS");
        assert_eq!(poster.await.unwrap(), 202);
        assert!(api.init_error().is_some());
        // Later invocations see it at once.
        assert!(matches!(api.invoke(json!({}), T).await.unwrap(), Outcome::InitError(_)));
    }
}
