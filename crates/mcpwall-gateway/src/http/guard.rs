//! Who may talk to the gateway: the `Host` and `Origin` checks that stop DNS rebinding (a web
//! page whose name points at 127.0.0.1 must not reach local tools), and the bearer token.

use axum::http::{HeaderMap, StatusCode, header};

use super::ServeOptions;

/// Why a request was turned away, for the response.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) why: String,
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Refusal {
    Refusal {
        status,
        why: why.into(),
    }
}

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// `host[:port]` without the port (IPv6 literals keep their brackets). Anything else after
/// a bracketed literal keeps the whole string, which then matches no name.
fn host_part(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) if end + 1 == authority.len() || authority[end + 1..].starts_with(':') => {
                &authority[..=end]
            }
            _ => authority,
        };
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// Checks a request's `Host`, `Origin` and (unless `preflight`) `Authorization` headers. A
/// browser's CORS preflight carries no credentials; it is answered with what may be sent, and
/// the request that follows is checked in full.
pub(super) fn check(
    opts: &ServeOptions,
    headers: &HeaderMap,
    preflight: bool,
) -> Result<(), Refusal> {
    let loopback = opts.listen.ip().is_loopback();
    // Host: on a loopback address only loopback names (and the configured ones) are served; a
    // DNS-rebinding page reaches us under its own name.
    if loopback || !opts.allowed_hosts.is_empty() {
        let host = header_str(headers, header::HOST).map(|h| host_part(h).to_ascii_lowercase());
        let ok = host.as_deref().is_some_and(|h| {
            (loopback && LOOPBACK_NAMES.contains(&h))
                || opts.allowed_hosts.iter().any(|a| a.eq_ignore_ascii_case(h))
        }) || header_str(headers, header::HOST).is_some_and(|full| {
            // An allowed host written with its port matches only that port.
            opts.allowed_hosts
                .iter()
                .any(|a| a.eq_ignore_ascii_case(full))
        });
        if !ok {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "the Host header {:?} is not one this gateway serves (add it to \
                     allowed_hosts)",
                    host.unwrap_or_default()
                ),
            ));
        }
    }
    // Origin: sent by browsers. Pages from loopback origins may call a loopback gateway;
    // any other page only when its origin is configured.
    if let Some(origin) = header_str(headers, header::ORIGIN) {
        let configured = opts
            .allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin));
        let local_page = loopback
            && ["http://", "https://"].iter().any(|scheme| {
                origin.len() > scheme.len()
                    && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
                    && LOOPBACK_NAMES.contains(&host_part(&origin[scheme.len()..]))
            });
        if !configured && !local_page {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                format!("the Origin {origin:?} is not allowed (add it to allowed_origins)"),
            ));
        }
    }
    if let Some(token) = opts.token.as_ref().filter(|_| !preflight) {
        let given = header_str(headers, header::AUTHORIZATION)
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "a valid `Authorization: Bearer` token is required",
            ));
        }
    }
    Ok(())
}

/// Compares in time that depends on the lengths only, not on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn check(o: &ServeOptions, h: &HeaderMap) -> Result<(), Refusal> {
        super::check(o, h, false)
    }

    #[test]
    fn a_preflight_needs_no_token_but_a_good_origin() {
        let o = opts("127.0.0.1:8750", Some("s3cret-token"));
        let local = headers(&[
            (header::HOST, "localhost"),
            (header::ORIGIN, "http://localhost:6274"),
        ]);
        assert_eq!(super::check(&o, &local, true), Ok(()));
        assert!(
            super::check(&o, &local, false).is_err(),
            "the request itself needs it"
        );
        let evil = headers(&[
            (header::HOST, "localhost"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert!(super::check(&o, &evil, true).is_err());
    }

    fn opts(listen: &str, token: Option<&str>) -> ServeOptions {
        ServeOptions {
            listen: listen.parse().unwrap(),
            token: token.map(str::to_owned),
            ..ServeOptions::default()
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn loopback_gateway_serves_loopback_names_only() {
        let o = opts("127.0.0.1:8750", None);
        for host in [
            "localhost:8750",
            "127.0.0.1:8750",
            "[::1]:8750",
            "LOCALHOST",
        ] {
            assert_eq!(
                check(&o, &headers(&[(header::HOST, host)])),
                Ok(()),
                "{host}"
            );
        }
        for host in [
            "evil.example:8750",
            "127.0.0.1.evil.example",
            "localhost.evil:80",
            "[::1]evil",
            "localhost.",
        ] {
            let r = check(&o, &headers(&[(header::HOST, host)])).unwrap_err();
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{host}");
        }
        assert!(check(&o, &HeaderMap::new()).is_err(), "no Host header");
    }

    #[test]
    fn foreign_origins_are_refused() {
        let o = opts("127.0.0.1:8750", None);
        let with = |origin: &str| {
            check(
                &o,
                &headers(&[(header::HOST, "localhost:8750"), (header::ORIGIN, origin)]),
            )
        };
        assert_eq!(with("http://localhost:6274"), Ok(()));
        assert_eq!(with("https://127.0.0.1"), Ok(()));
        for origin in [
            "https://evil.example",
            "null",
            "http://localhost.evil.example",
            "file://",
        ] {
            assert!(with(origin).is_err(), "{origin}");
        }
        let mut o2 = o.clone();
        o2.allowed_origins = vec!["https://app.example.com".to_owned()];
        let h = headers(&[
            (header::HOST, "localhost"),
            (header::ORIGIN, "https://app.example.com"),
        ]);
        assert_eq!(check(&o2, &h), Ok(()));
    }

    #[test]
    fn bearer_token_is_required_when_set() {
        let o = opts("127.0.0.1:8750", Some("s3cret-token"));
        let host = (header::HOST, "localhost");
        let r = check(&o, &headers(std::slice::from_ref(&host))).unwrap_err();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        for bad in [
            "Bearer s3cret-tokeN",
            "Basic s3cret-token",
            "Bearer",
            "s3cret-token",
        ] {
            let h = headers(&[host.clone(), (header::AUTHORIZATION, bad)]);
            assert!(check(&o, &h).is_err(), "{bad}");
        }
        let h = headers(&[host.clone(), (header::AUTHORIZATION, "bearer s3cret-token")]);
        assert_eq!(check(&o, &h), Ok(()));
    }

    #[test]
    fn public_listener_with_allowed_hosts_checks_them() {
        let mut o = opts("0.0.0.0:8750", Some("t"));
        o.allowed_hosts = vec!["mcp.internal.example".to_owned()];
        let auth = (header::AUTHORIZATION, "Bearer t");
        let ok = headers(&[(header::HOST, "mcp.internal.example:8750"), auth.clone()]);
        assert_eq!(check(&o, &ok), Ok(()));
        let bad = headers(&[(header::HOST, "localhost"), auth]);
        assert!(check(&o, &bad).is_err());
    }
}
