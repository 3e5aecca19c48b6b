//! Who is asking: the client address, which is the socket peer unless the
//! peer is a configured trusted proxy. Headers from anyone else are
//! ignored, so a client cannot pick a fresh rate-limit budget by sending
//! `X-Forwarded-For` or `X-Real-IP`. An IPv6 address that carries an IPv4
//! one (NAT64, 6to4, Teredo, IPv4-compatible) names that IPv4 client, so
//! everyone behind one translator is not counted as one /64.

use actix_web::http::header::HeaderMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    s.parse::<IpAddr>()
        .or_else(|_| s.parse::<SocketAddr>().map(|a| a.ip()))
        .or_else(|_| {
            s.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
        })
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The client as limits count it: an IPv4 address, or an IPv6 address cut
/// to its first `ipv6_prefix` bits (one subscriber's network).
pub(crate) fn counted_as(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::V4(a),
        IpAddr::V6(a) => {
            let bits = u32::from(ipv6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// The IPv4 address an IPv6 one carries, by the transition mechanisms that
/// put a whole IPv4 client population behind few IPv6 prefixes.
fn embedded_ipv4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(a);
    let low32 = Ipv4Addr::from(bits as u32);
    let seg = a.segments();
    match seg {
        // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052), and the local-use
        // 64:ff9b:1::/48 (RFC 8215) as deployed, with a /96 inside it.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, _, _, _, _, _] => Some(low32),
        // 6to4, 2002:V4ADDR::/48 (RFC 3056).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        // Teredo, 2001:0::/32: the client's address, inverted (RFC 4380).
        [0x2001, 0, ..] => Some(Ipv4Addr::from(!(bits as u32))),
        // IPv4-compatible ::a.b.c.d (deprecated); not :: or ::1.
        [0, 0, 0, 0, 0, 0, _, _] if bits > 1 => Some(low32),
        _ => None,
    }
}

/// The client address for a request from `peer`, with an embedded IPv4
/// client taken out of its IPv6 wrapping.
pub(crate) fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    is_trusted: impl Fn(&IpAddr) -> bool,
) -> IpAddr {
    unwrapped(forwarded_client(peer, headers, is_trusted))
}

/// `ip` with an embedded IPv4 client taken out of its IPv6 wrapping.
fn unwrapped(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(a) => embedded_ipv4(a).map_or(IpAddr::V6(a), IpAddr::V4),
        v4 => v4,
    }
}

/// A connection's peer as the `ip` rule counts a client that reaches us
/// directly (an embedded IPv4 address unwrapped, IPv6 cut to its prefix).
pub(crate) fn peer_counted_as(peer: IpAddr, ipv6_prefix: u8) -> IpAddr {
    counted_as(unwrapped(peer), ipv6_prefix)
}

/// The client address for a request from `peer`.
///
/// From a trusted peer, `X-Forwarded-For` is walked right to left and the
/// first address that is not itself a trusted proxy is the client; an
/// unparseable entry stops the walk at the last trusted hop, since nothing
/// left of it can be believed. Without `X-Forwarded-For`, `X-Real-IP` is used.
fn forwarded_client(
    peer: IpAddr,
    headers: &HeaderMap,
    is_trusted: impl Fn(&IpAddr) -> bool,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    if !hops.is_empty() {
        let mut current = peer;
        for hop in hops.iter().rev() {
            match parse_addr(hop) {
                Some(ip) if is_trusted(&ip) => current = ip,
                Some(ip) => return ip,
                None => return current,
            }
        }
        return current;
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_addr)
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use ipnet::IpNet;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "8.8.8.8"), ("x-real-ip", "9.9.9.9")]);
        assert_eq!(
            client_ip(ip("203.0.113.7"), &h, |_| false),
            ip("203.0.113.7")
        );
        let trusted: IpNet = "10.0.0.0/8".parse().unwrap();
        assert_eq!(
            client_ip(ip("203.0.113.7"), &h, |ip| trusted.contains(ip)),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_rightmost_untrusted_hop() {
        let trusted: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ];
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.0.0.5")],
                "2.2.2.2",
            ),
            (
                &[
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "2.2.2.2:5555"),
                ],
                "2.2.2.2",
            ),
            (&[("x-forwarded-for", "garbage, 10.0.0.9")], "10.0.0.9"),
            (&[("x-forwarded-for", "10.0.0.1, 10.0.0.2")], "10.0.0.1"),
            (&[("x-real-ip", "5.5.5.5")], "5.5.5.5"),
            (&[("x-real-ip", "nonsense")], "127.0.0.1"),
            (&[("x-forwarded-for", "[2001:db8::1]:80")], "2001:db8::1"),
            (&[("x-forwarded-for", "::ffff:4.4.4.4")], "4.4.4.4"),
            (&[], "127.0.0.1"),
        ];
        for (h, want) in cases {
            assert_eq!(
                client_ip(ip("127.0.0.1"), &headers(h), |ip| trusted
                    .iter()
                    .any(|n| n.contains(ip))),
                ip(want),
                "{h:?}"
            );
        }
    }

    #[test]
    fn ipv6_wrappings_of_an_ipv4_client_name_that_client() {
        for (v6, v4) in [
            ("64:ff9b::cb00:7107", Some("203.0.113.7")),
            ("64:ff9b:1::cb00:7107", Some("203.0.113.7")),
            ("2002:cb00:7107::1", Some("203.0.113.7")),
            ("2001:0:4136:e378:8000:63bf:34ff:8ef8", Some("203.0.113.7")),
            ("::cb00:7107", Some("203.0.113.7")),
            ("::ffff:203.0.113.7", Some("203.0.113.7")),
            ("::1", None),
            ("2001:db8::1", None),
            ("2a00:1450::cb00:7107", None),
        ] {
            let want = v4.map_or_else(|| ip(v6), ip);
            assert_eq!(client_ip(ip(v6), &headers(&[]), |_| false), want, "{v6}");
        }
    }

    #[test]
    fn a_peer_is_counted_as_the_ip_rule_counts_a_direct_client() {
        let none = HeaderMap::new();
        for peer in [
            "64:ff9b::c000:221",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2002:c000:221::1",
            "::ffff:192.0.2.33",
            "2001:db8:1:2:3:4:5:6",
            "198.51.100.7",
        ] {
            let peer: IpAddr = peer.parse().unwrap();
            let by_rule = counted_as(client_ip(peer, &none, |_| false), 64);
            assert_eq!(peer_counted_as(peer, 64), by_rule, "{peer}");
        }
        let nat64: IpAddr = "64:ff9b::c000:221".parse().unwrap();
        assert_eq!(peer_counted_as(nat64, 64), IpAddr::from([192, 0, 2, 33]));
    }
}
