//! Admin HTTP (axum): `/health` for keepalived, `/ready` for load balancers,
//! `/status` for people, `/metrics` for Prometheus, `POST /reload`.
//! With `[admin] token` set, everything but `/health` needs
//! `Authorization: Bearer <token>`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::reload::Reloader;
use crate::shared::Shared;

#[derive(Clone)]
pub struct AdminState {
    pub shared: Arc<Shared>,
    pub reloader: Arc<Reloader>,
}

pub fn router(state: AdminState) -> Router {
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .route("/status", get(status))
        .route("/reload", post(reload))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(health))
        .merge(guarded)
        .with_state(state)
}

/// Serves until `shutdown` fires.
pub async fn serve(listener: TcpListener, state: AdminState, shutdown: CancellationToken) {
    let app = router(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "admin HTTP server failed");
    }
}

async fn require_token(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    let config = s.shared.config.load();
    if let Some(token) = config.admin.token.as_deref() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "admin token required\n",
            )
                .into_response();
        }
    }
    drop(config);
    next.run(req).await
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 200 while the proxy accepts clients; 503 once draining (keepalived's
/// check then fails and the VIP moves before the listener goes away).
async fn health(State(s): State<AdminState>) -> (StatusCode, &'static str) {
    if s.shared.drain.fired() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}

/// 200 only when writes have somewhere to go.
async fn ready(State(s): State<AdminState>) -> (StatusCode, String) {
    let topology = s.shared.topology.borrow().clone();
    match topology.primary() {
        Some(p) if !s.shared.drain.fired() => {
            (StatusCode::OK, format!("ready: primary {}\n", p.addr))
        }
        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "draining\n".into()),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no writable primary known\n".into(),
        ),
    }
}

async fn status(State(s): State<AdminState>) -> Json<serde_json::Value> {
    let topology = s.shared.topology.borrow().clone();
    let config = s.shared.config.load_full();
    Json(json!({
        "draining": s.shared.drain.fired(),
        "clients": {
            "active": s.shared.clients.get(),
            "max": config.listen.max_clients,
        },
        "primary": topology.primary().map(|b| b.addr.to_string()),
        "backends": topology.backends,
        "pools": s.shared.pools.status(),
    }))
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    let topology = s.shared.topology.borrow().clone();
    s.shared
        .metrics
        .refresh(&topology, &s.shared.pools.status());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.shared.metrics.encode(),
    )
}

async fn reload(State(s): State<AdminState>) -> (StatusCode, Json<serde_json::Value>) {
    match s.reloader.reload().await {
        Ok(report) => (StatusCode::OK, Json(json!(report))),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": e.to_string() })),
        ),
    }
}
