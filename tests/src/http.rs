//! Plain HTTP on loopback: a tiny client (hyper-util legacy client) for the control API,
//! and the accept loop of the harness's servers (webhook receiver, Runtime API) and the
//! tests' own ([`serve_loopback`], e.g. the deploy tests' StackSets proxy).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::HarnessError;

#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

/// Status and body of a response.
pub(crate) struct HttpResponse {
    pub status: u16,
    #[cfg_attr(not(test), allow(dead_code))] // read by the harness tests
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl HttpClient {
    pub(crate) fn new() -> Self {
        HttpClient {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Send one request and collect the whole response, within `timeout`.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<HttpResponse, HarnessError> {
        let err = |message: String| HarnessError::Http {
            method: method.to_string(),
            url: url.to_string(),
            message,
        };
        let mut builder = Request::builder().method(method.clone()).uri(url);
        if body.is_some() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| err(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| err(format!("{e:?}")))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| err(e.to_string()))?
                .to_bytes();
            Ok(HttpResponse { status, headers, body })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| err(format!("no answer within {timeout:?}")))?
    }
}

/// Binds 127.0.0.1 on a free port and serves every connection (HTTP/1) with `handle`,
/// called with `shared` and the request; returns the address and the accept loop's task.
/// `what` names the server in errors. Aborting the returned task drops its JoinSet,
/// which aborts every open connection too (hung long polls included).
pub async fn serve_loopback<S, F, Fut>(
    what: &str,
    shared: std::sync::Arc<S>,
    handle: F,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), HarnessError>
where
    S: Send + Sync + 'static,
    F: Fn(std::sync::Arc<S>, Request<hyper::body::Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<hyper::Response<Full<Bytes>>, std::convert::Infallible>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| HarnessError::io(format!("binding the {what}"), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| HarnessError::io(format!("{what} address"), e))?;
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let shared = std::sync::Arc::clone(&shared);
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request| handle(std::sync::Arc::clone(&shared), request));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    Ok((addr, task))
}
