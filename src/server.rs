//! Start-up: open and migrate the database, load reference data, serve HTTP.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::authz::Authorizer;
use crate::config::Settings;
use crate::crypto::KeyringHandle;
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

/// Opens the key file that belongs to the database (creating it on first run).
pub async fn prepare_keys(
    settings: &Settings,
    store: &Store,
) -> anyhow::Result<Arc<KeyringHandle>> {
    let (keys, created) = crate::cases::keys::open(&settings.key_file, store).await?;
    if created {
        tracing::warn!(
            key.file = %settings.key_file.display(),
            "first run: created a new key file; back it up offline now — without it the \
             sealed data cannot be read"
        );
    }
    Ok(Arc::new(keys))
}

/// Builds the application state and router for a prepared store and keyring.
pub fn build_app(
    settings: Settings,
    store: Store,
    keys: Arc<KeyringHandle>,
) -> anyhow::Result<axum::Router> {
    let authorizer = Authorizer::new().context("the policy files in policy/ are not valid")?;
    Ok(http::app(AppState {
        gate: crate::cases::access::Gate::new(Arc::new(authorizer), store.clone()),
        store,
        keys: crate::cases::Keys::new(keys),
        settings: Arc::new(settings),
        snapshots: Arc::default(),
    }))
}

/// Reloads the key file when it changes (a rotation), so new data uses new keys.
fn watch_key_file(keys: Arc<KeyringHandle>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::cases::keys::RELOAD_INTERVAL);
        loop {
            tick.tick().await;
            match keys.reload_if_changed() {
                Ok(true) => tracing::info!("key file changed; keys reloaded"),
                Ok(false) => {}
                Err(err) => {
                    tracing::error!(error = %err, "key file changed but cannot be loaded; keeping the keys in use")
                }
            }
        }
    });
}

/// Runs the service until SIGINT or SIGTERM, then drains in-flight requests.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = prepare_store(&settings).await?;
    let keys = prepare_keys(&settings, &store).await?;
    watch_key_file(Arc::clone(&keys));
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (REGISTRY_LISTEN)", settings.listen))?;
    let address = listener.local_addr().context("listener has no address")?;
    tracing::info!(listen = %address, backend = ?store.backend(), "registry is serving");
    let header_timeout = settings.header_timeout;
    let app = build_app(settings, store.clone(), keys)?;
    serve_on(listener, app, header_timeout, http::shutdown_signal()).await;
    store.close().await;
    tracing::info!("registry stopped");
    Ok(())
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections
/// finish. Each connection must send its request headers within `header_timeout`
/// (HTTP/1; a client trickling headers would otherwise hold a connection for ever),
/// and handlers see the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve_on(
    listener: TcpListener,
    app: axum::Router,
    header_timeout: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                tower::ServiceExt::oneshot(app.clone(), request.map(axum::body::Body::new))
            },
        );
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or breaks the protocol ends only its connection.
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
