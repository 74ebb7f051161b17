//! A minimal HTTP/1 client (hyper) for the admin endpoints, used by
//! `pgsplit check` and `pgsplit status` (and the tests).

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    #[error("cannot connect to the admin endpoint {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("admin endpoint {addr}: {message}")]
    Http { addr: String, message: String },
    #[error("admin endpoint {0} did not answer in time")]
    Timeout(String),
}

/// A response: status code and body text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// `GET path` on `addr` (host:port), with an optional bearer token.
pub async fn get(addr: &str, path: &str, token: Option<&str>) -> Result<Reply, AdminClientError> {
    request("GET", addr, path, token).await
}

pub async fn post(addr: &str, path: &str, token: Option<&str>) -> Result<Reply, AdminClientError> {
    request("POST", addr, path, token).await
}

/// One request on a fresh connection, bounded to 5 seconds in all.
pub async fn request(
    method: &str,
    addr: &str,
    path: &str,
    token: Option<&str>,
) -> Result<Reply, AdminClientError> {
    tokio::time::timeout(Duration::from_secs(5), exchange(method, addr, path, token))
        .await
        .unwrap_or_else(|_| Err(AdminClientError::Timeout(addr.to_owned())))
}

async fn exchange(
    method: &str,
    addr: &str,
    path: &str,
    token: Option<&str>,
) -> Result<Reply, AdminClientError> {
    let http = |e: &dyn std::fmt::Display| AdminClientError::Http {
        addr: addr.to_owned(),
        message: e.to_string(),
    };
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| AdminClientError::Connect {
            addr: addr.to_owned(),
            source,
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http(&e))?;
    let driver = tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr);
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| http(&e))?;
    let res = sender.send_request(req).await.map_err(|e| http(&e))?;
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| http(&e))?
        .to_bytes();
    driver.abort();
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
