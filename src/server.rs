//! Start-up: open and migrate the database, load reference data, serve HTTP.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::http::{self, AppState};
use crate::store::Store;

/// Opens the database, applies migrations and loads changed reference data.
pub async fn prepare_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url, settings.max_connections)
        .await
        .context("cannot open the database (check REGISTRY_DATABASE_URL)")?;
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    let report = store
        .load_seeds()
        .await
        .context("cannot load reference data from seeds/")?;
    for (file, rows, loaded) in report.files {
        if loaded {
            tracing::info!(seed.file = file, seed.rows = rows, "reference data loaded");
        }
    }
    Ok(store)
}

/// Builds the application state and router for a prepared store.
pub fn build_app(settings: Settings, store: Store) -> axum::Router {
    http::app(AppState {
        store,
        settings: Arc::new(settings),
    })
}

/// Runs the service until SIGINT or SIGTERM, then drains in-flight requests.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = prepare_store(&settings).await?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (REGISTRY_LISTEN)", settings.listen))?;
    let address = listener.local_addr().context("listener has no address")?;
    tracing::info!(listen = %address, backend = ?store.backend(), "registry is serving");
    let app = build_app(settings, store.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(http::shutdown_signal())
    .await
    .context("server failed")?;
    store.close().await;
    tracing::info!("registry stopped");
    Ok(())
}
