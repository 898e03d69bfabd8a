//! Who is on the other end of a request. Behind a reverse proxy the socket address is
//! the proxy's, so the login throttle would lock everyone out after twenty failures by
//! anyone: the forwarded headers are believed, but only from the proxies named in
//! `REGISTRY_TRUSTED_PROXIES`; from anyone else they could be forged.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// The client as the service sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The client's address: the socket's, or the forwarded one from a trusted proxy.
    pub address: IpAddr,
    /// Whether a trusted proxy says the client connected over HTTPS.
    pub https: bool,
}

impl Client {
    /// Reads the client from the socket address and, when the peer is a trusted
    /// proxy, from `X-Forwarded-For` (the nearest address that is not itself a trusted
    /// proxy) and `X-Forwarded-Proto`.
    pub fn of(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> Self {
        if !trusted.contains(&peer.ip()) {
            return Self {
                address: peer.ip(),
                https: false,
            };
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .rev()
            .find(|a| !trusted.contains(a));
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Self {
            address: forwarded.unwrap_or(peer.ip()),
            https,
        }
    }
}

/// Adds `Strict-Transport-Security` when the client came over HTTPS through a
/// trusted proxy (the service itself speaks plain HTTP behind it).
pub(super) async fn hsts(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let https = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| {
            Client::of(*peer, request.headers(), &state.settings.trusted_proxies).https
        });
    let mut response = next.run(request).await;
    if https {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        map
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().expect("ip");
        let forged = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let direct = Client::of("192.0.2.7:5000".parse().expect("addr"), &forged, &[proxy]);
        assert_eq!(direct.address, "192.0.2.7".parse::<IpAddr>().expect("ip"));
        assert!(!direct.https);
        let via = Client::of(
            "10.0.0.5:443".parse().expect("addr"),
            &headers(&[
                ("x-forwarded-for", "6.6.6.6, 198.51.100.9"),
                ("x-forwarded-proto", "https"),
            ]),
            &[proxy],
        );
        // The right-most address is the one the trusted proxy saw; what the client
        // put before it could be forged.
        assert_eq!(via.address, "198.51.100.9".parse::<IpAddr>().expect("ip"));
        assert!(via.https);
        let none = Client::of(
            "10.0.0.5:443".parse().expect("addr"),
            &HeaderMap::new(),
            &[proxy],
        );
        assert_eq!(none.address, proxy);
    }
}
