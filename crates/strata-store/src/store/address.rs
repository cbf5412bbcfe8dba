//! The address a service is recorded at on a team server: where a teammate can reach it, not
//! the address it is bound to (`0.0.0.0` means nothing on another machine).

use std::net::IpAddr;

/// Where a service can be reached, and why that is the host recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAddress {
    /// The host the deployer gave (`--advertise-host`): a name or address they know works.
    Advertised(String),
    /// The machine's hostname, for a service listening on every interface.
    Hostname(String),
    /// A loopback address: reachable from the deploying machine only, and recorded as such.
    Loopback(String),
    /// A specific address it is bound to, reachable as it is.
    Bound(String),
}

impl ServiceAddress {
    /// The host to record.
    pub fn host(&self) -> &str {
        match self {
            Self::Advertised(host)
            | Self::Hostname(host)
            | Self::Loopback(host)
            | Self::Bound(host) => host,
        }
    }
}

/// Where a service bound to `bind` can be reached: `advertise` when given; the machine's
/// hostname when it listens on every interface (`0.0.0.0`, `::`); otherwise the address
/// itself, loopback staying loopback.
pub fn service_address(bind: &str, advertise: Option<&str>) -> ServiceAddress {
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok());
    service_address_on(bind, advertise, hostname)
}

fn service_address_on(
    bind: &str,
    advertise: Option<&str>,
    hostname: Option<String>,
) -> ServiceAddress {
    if let Some(host) = advertise.map(str::trim).filter(|host| !host.is_empty()) {
        return ServiceAddress::Advertised(host.to_string());
    }
    match bind.parse::<IpAddr>() {
        Ok(address) if address.is_loopback() => ServiceAddress::Loopback(bind.to_string()),
        Ok(address) if address.is_unspecified() => {
            hostname.filter(|name| !name.is_empty()).map_or_else(
                || ServiceAddress::Bound(bind.to_string()),
                ServiceAddress::Hostname,
            )
        }
        _ => ServiceAddress::Bound(bind.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_recorded_where_they_can_be_reached() {
        let host = || Some("gpu-box".to_string());
        assert_eq!(
            service_address_on("0.0.0.0", None, host()),
            ServiceAddress::Hostname("gpu-box".into())
        );
        assert_eq!(
            service_address_on("::", None, host()),
            ServiceAddress::Hostname("gpu-box".into())
        );
        assert_eq!(
            service_address_on("127.0.0.1", None, host()),
            ServiceAddress::Loopback("127.0.0.1".into())
        );
        assert_eq!(
            service_address_on("::1", None, host()),
            ServiceAddress::Loopback("::1".into())
        );
        assert_eq!(
            service_address_on("10.1.2.3", None, host()),
            ServiceAddress::Bound("10.1.2.3".into())
        );
        assert_eq!(
            service_address_on("127.0.0.1", Some("scoring.example.com"), host()),
            ServiceAddress::Advertised("scoring.example.com".into())
        );
        assert_eq!(
            service_address_on("0.0.0.0", Some(" "), None),
            ServiceAddress::Bound("0.0.0.0".into()),
            "without a hostname the bind address is all there is"
        );
    }
}
