//! The client's address: the TCP peer, unless the peer is a trusted proxy, in
//! which case the forwarding headers are walked from the right, skipping our own
//! proxies, and the first address we did not add ourselves is the client.
//! A client can put anything in `X-Forwarded-For`; only what trusted proxies
//! appended after it is believed.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;
use actix_web::{Error, web};
use ipnet::IpNet;

/// The resolved client address, in the request's extensions for the rate
/// limiter and handlers (login counts by address and email; sessions record it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The address [`resolve_client_ip`] put on `req`, when it ran.
    #[must_use]
    pub fn of(req: &actix_web::HttpRequest) -> Option<IpAddr> {
        req.extensions().get::<Self>().map(|ip| ip.0)
    }
}

/// Resolves the client's address once per request, before anything else reads it.
pub async fn resolve_client_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let peer = req.peer_addr().map(|a| a.ip());
    let ip = match req.app_data::<web::Data<TrustedProxies>>() {
        Some(trusted) => trusted.client_ip(peer, req.headers()),
        None => TrustedProxies::default().client_ip(peer, req.headers()),
    };
    req.extensions_mut().insert(ClientIp(ip));
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

/// Which forwarding header the trusted proxies write. Only that one is read: a
/// proxy that appends `X-Forwarded-For` passes a client's `Forwarded` through
/// untouched, so reading both would let the client choose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    Forwarded,
}

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    #[must_use]
    pub fn new(nets: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { nets, header }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Resolves the client address of a request from `peer` and its headers.
    #[must_use]
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        if !self.contains(peer) {
            return peer;
        }
        // All lines of the configured header in order, each a comma list, oldest hop first.
        let chain = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
            ForwardedHeader::Forwarded => forwarded_for(headers).unwrap_or_default(),
        };
        let mut last_trusted = peer;
        for hop in chain.iter().rev() {
            match hop {
                Some(ip) if self.contains(*ip) => last_trusted = *ip,
                Some(ip) => return *ip,
                // Garbage we cannot attribute: stop at the last hop we trust.
                None => return last_trusted,
            }
        }
        last_trusted
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers.get_all(name).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
}

fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    header_values(headers, "x-forwarded-for").map(|s| parse_node(s.trim())).collect()
}

fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    if !headers.contains_key("forwarded") {
        return None;
    }
    let hops = header_values(headers, "forwarded")
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, v)| parse_node(v.trim().trim_matches('"')))
        })
        .collect();
    Some(hops)
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:443`; anything else
/// (`unknown`, obfuscated ids) is `None`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = raw.strip_prefix('[') {
        let inner = rest.split(']').next()?;
        return inner.parse::<IpAddr>().ok().map(canonical);
    }
    let (host, port) = raw.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        map
    }

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect(), ForwardedHeader::XForwardedFor)
    }

    fn trusted_forwarded(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect(), ForwardedHeader::Forwarded)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_cannot_choose_their_address() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2")]);
        assert_eq!(trusted(&[]).client_ip(Some(ip("9.9.9.9")), &h), ip("9.9.9.9"));
        assert_eq!(trusted(&["10.0.0.0/8"]).client_ip(Some(ip("9.9.9.9")), &h), ip("9.9.9.9"));
    }

    #[test]
    fn a_trusted_proxy_is_believed_and_its_own_hops_skipped() {
        let t = trusted(&["10.0.0.0/8"]);
        // The client forged 6.6.6.6; the real client 1.1.1.1 was appended by our proxy 10.0.0.2.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 1.1.1.1, 10.0.0.2")]);
        assert_eq!(t.client_ip(Some(ip("10.0.0.1")), &h), ip("1.1.1.1"));
        // Several header lines are one list.
        let h = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(t.client_ip(Some(ip("10.0.0.1")), &h), ip("1.1.1.1"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // A proxy that appends X-Forwarded-For passes the client's Forwarded through.
        let h = headers(&[("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(trusted(&["10.0.0.0/8"]).client_ip(Some(ip("10.0.0.1")), &h), ip("1.1.1.1"));
        let h = headers(&[("forwarded", "for=1.1.1.1"), ("x-forwarded-for", "6.6.6.6")]);
        assert_eq!(trusted_forwarded(&["10.0.0.0/8"]).client_ip(Some(ip("10.0.0.1")), &h), ip("1.1.1.1"));
    }

    #[test]
    fn forwarded_header_is_parsed() {
        let t = trusted_forwarded(&["10.0.0.0/8"]);
        let h = headers(&[
            ("forwarded", r#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=https"#),
            ("x-forwarded-for", "5.5.5.5"),
        ]);
        assert_eq!(t.client_ip(Some(ip("10.1.1.1")), &h), ip("2001:db8::7"));
        let h = headers(&[("forwarded", "for=192.0.2.60:8080;by=10.0.0.1")]);
        assert_eq!(t.client_ip(Some(ip("10.1.1.1")), &h), ip("192.0.2.60"));
    }

    #[test]
    fn garbage_or_missing_headers_fall_back_to_the_last_trusted_hop() {
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(t.client_ip(Some(ip("10.0.0.1")), &HeaderMap::new()), ip("10.0.0.1"));
        let h = headers(&[("x-forwarded-for", "1.1.1.1, not-an-ip, 10.0.0.3")]);
        assert_eq!(t.client_ip(Some(ip("10.0.0.1")), &h), ip("10.0.0.3"));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(trusted_forwarded(&["10.0.0.0/8"]).client_ip(Some(ip("10.0.0.1")), &h), ip("10.0.0.1"));
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_networks() {
        let t = trusted(&["127.0.0.1/32"]);
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(t.client_ip(Some(ip("::ffff:127.0.0.1")), &h), ip("1.1.1.1"));
    }
}
