//! Just enough URL handling for a pure crate: split `http(s)://host[:port]/...` and decide
//! whether a host is a private or loopback address.
//!
//! The strict parser here is for validation and the engine; the executor still parses the URL
//! with a full parser and must refuse private addresses after DNS resolution (a public name can
//! resolve to `127.0.0.1`), which is I/O and therefore not done here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The parts of an absolute `http`/`https` URL that matter for policy checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// `http` or `https`, lowercase.
    pub scheme: &'static str,
    /// As written: brackets kept around IPv6 literals.
    pub host: &'a str,
    pub port: Option<u16>,
}

/// Splits `http(s)://host[:port][/path][?query][#fragment]`.
///
/// `None` for anything else, including URLs with credentials (`user@host`), whitespace or
/// control characters (which full URL parsers silently strip), and empty hosts.
pub fn split_http_url(url: &str) -> Option<UrlParts<'_>> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else {
        return None;
    };
    // Full parsers treat `\` like `/` in http URLs, so it ends the authority here too.
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, after) = authority.split_at(close + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(['[', ']']) && !host.starts_with('[') {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some(UrlParts { scheme, host, port })
}

/// True when `host` is `localhost` (or a name under it) or a literal IP address in a private,
/// loopback, link-local, shared, multicast or otherwise non-public range.
///
/// Percent-encoding and the numeric IPv4 spellings that browsers and the `url` crate accept
/// (`2130706433`, `0x7f.1`, `0177.0.0.1`) are decoded first, so they cannot slip through.
/// Domain names return `false`: their addresses must be checked after resolution.
pub fn is_forbidden_host(host: &str) -> bool {
    let Some(decoded) = percent_decode(host) else {
        return true;
    };
    let lower = decoded.to_ascii_lowercase();
    let host = lower.strip_suffix('.').unwrap_or(&lower);
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match inner.parse::<Ipv6Addr>() {
            Ok(ip) => is_forbidden_ip(IpAddr::V6(ip)),
            // An unparsable IPv6 literal is refused rather than guessed at.
            Err(_) => true,
        };
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match parse_ipv4_lenient(host) {
        Some(ip) => is_forbidden_ip(IpAddr::V4(ip)),
        None => false,
    }
}

/// True for addresses a bot must not reach unless the deployment allows private networks.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_ipv4(v4),
        IpAddr::V6(v6) => is_forbidden_ipv6(v6),
    }
}

fn is_forbidden_ipv4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0                                   // "this network"
        || a == 10                           // private
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || a == 127                          // loopback
        || (a == 169 && b == 254)            // link-local, cloud metadata endpoints
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)    // IETF protocol assignments
        || (a == 192 && b == 168)            // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 224 // multicast, reserved, broadcast
}

fn is_forbidden_ipv6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded_v4 = |ip: Ipv6Addr| {
        let o = ip.octets();
        Ipv4Addr::new(o[12], o[13], o[14], o[15])
    };
    if ip.is_unspecified() || ip.is_loopback() {
        return true;
    }
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d)
    // addresses reach the embedded IPv4 address.
    let mapped = segments[..5] == [0; 5] && (segments[5] == 0xffff || segments[5] == 0);
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if mapped || nat64 {
        return is_forbidden_ipv4(embedded_v4(ip));
    }
    if segments[0] == 0x2002 {
        // 6to4: the IPv4 address sits in segments 1 and 2.
        let [a, b] = segments[1].to_be_bytes();
        let [c, d] = segments[2].to_be_bytes();
        return is_forbidden_ipv4(Ipv4Addr::new(a, b, c, d));
    }
    (segments[0] & 0xfe00) == 0xfc00        // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] & 0xff00) == 0xff00 // multicast
}

/// The WHATWG IPv4 parser: 1 to 4 dot-separated numbers in decimal, octal (`0` prefix) or hex
/// (`0x` prefix), the last one filling the remaining bytes. `None` when `host` is a name.
fn parse_ipv4_lenient(host: &str) -> Option<Ipv4Addr> {
    let mut parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = parts
        .iter()
        .map(|p| parse_ipv4_number(p))
        .collect::<Option<_>>()?;
    let (last, init) = numbers.split_last()?;
    if init.iter().any(|&n| n > 255) {
        return None;
    }
    let remaining_bits = 8 * (5 - numbers.len()) as u32;
    if *last >= 1u64 << remaining_bits {
        return None;
    }
    let mut value: u64 = *last;
    for (i, &n) in init.iter().enumerate() {
        value |= n << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(u32::try_from(value).ok()?))
}

fn parse_ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() || part.len() > 32 {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x").or(part.strip_prefix("0X")) {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, radix).ok()
}

fn percent_decode(input: &str) -> Option<String> {
    if !input.contains('%') {
        return Some(input.to_owned());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes everything except RFC 3986 unreserved characters, so that a value
/// interpolated into a URL cannot change its host, path or query structure.
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_http_urls() {
        let parts = split_http_url("HTTPS://api.example.com:8443/v1?q=1").unwrap();
        assert_eq!(
            parts,
            UrlParts {
                scheme: "https",
                host: "api.example.com",
                port: Some(8443)
            }
        );
        assert_eq!(split_http_url("http://[::1]:80/").unwrap().host, "[::1]");
        assert_eq!(split_http_url("http://example.com").unwrap().port, None);
        assert_eq!(
            split_http_url("http://evil.com\\@good.com/").unwrap().host,
            "evil.com"
        );
    }

    #[test]
    fn rejects_what_is_not_a_plain_http_url() {
        for bad in [
            "ftp://example.com",
            "example.com",
            "http://",
            "http:///path",
            "http://user:pw@example.com/",
            "http://exa mple.com",
            "http://example.com:99999/",
            "http://example.com:/",
            "http://example.com:8o/",
            "http://[::1/",
            "http://ex\tample.com",
        ] {
            assert!(split_http_url(bad).is_none(), "{bad} should be rejected");
        }
    }

    #[test]
    fn forbids_loopback_private_and_disguised_hosts() {
        for host in [
            "localhost",
            "LOCALHOST.",
            "api.localhost",
            "127.0.0.1",
            "127.1",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "127%2E0%2E0%2E1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "[::1]",
            "[::]",
            "[fd00::1]",
            "[fe80::1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:10.0.0.1]",
            "[64:ff9b::a9fe:a9fe]",
            "[2002:7f00:1::]",
            "[not-an-ip]",
            "bad%zz",
        ] {
            assert!(is_forbidden_host(host), "{host} should be forbidden");
        }
    }

    #[test]
    fn allows_public_hosts() {
        for host in [
            "example.com",
            "api.example.com.",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "[2001:4860:4860::8888]",
            "[::ffff:8.8.8.8]",
            "localhost.example.com",
            "1.2.3.4.5",
        ] {
            assert!(!is_forbidden_host(host), "{host} should be allowed");
        }
    }

    #[test]
    fn encodes_everything_but_unreserved() {
        assert_eq!(
            encode_component("a b/c?d=é&x~_.-"),
            "a%20b%2Fc%3Fd%3D%C3%A9%26x~_.-"
        );
    }
}
