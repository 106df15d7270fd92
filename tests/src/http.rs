//! A tiny plain-HTTP client (hyper-util legacy client) for the control API.

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
