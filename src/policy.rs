//! Destination policy: which receivers a message endpoint may send to, by
//! country, E.164 prefix and libphonenumber type. Checked before any limit
//! is counted against the number and before Nexmo is called, so a refused
//! receiver costs nothing.

use crate::config::DestinationPolicy;
use crate::phone::PhoneNumber;

/// Why a receiver is refused; `as_str` is the API's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Country,
    Prefix,
    Type,
}

impl Refusal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refusal::Country => "country",
            Refusal::Prefix => "prefix",
            Refusal::Type => "type",
        }
    }
}

pub(crate) fn check(policy: &DestinationPolicy, n: &PhoneNumber) -> Result<(), Refusal> {
    let country = n.country();
    let country_ok = match country {
        Some(c) => {
            (policy.allowed.is_empty() || policy.allowed.contains(&c))
                && !policy.denied.contains(&c)
        }
        // Non-geographic numbers (+800, +882...) pass only an open policy.
        None => policy.allowed.is_empty(),
    };
    if !country_ok {
        return Err(Refusal::Country);
    }
    if policy
        .denied_prefixes
        .iter()
        .any(|p| n.e164().starts_with(p.as_str()))
    {
        return Err(Refusal::Prefix);
    }
    if !policy.number_types.contains(&n.kind()) {
        return Err(Refusal::Type);
    }
    Ok(())
}

pub(crate) fn is_trusted(policy: &DestinationPolicy, n: &PhoneNumber) -> bool {
    policy.trusted.iter().any(|t| t == n.e164())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::{self, Country, NumberKind};

    fn n(s: &str) -> PhoneNumber {
        phone::parse(s, || [Country::parse("DE").unwrap()]).unwrap()
    }

    fn policy() -> DestinationPolicy {
        DestinationPolicy {
            allowed: vec![Country::parse("DE").unwrap(), Country::parse("AT").unwrap()],
            denied: vec![Country::parse("AT").unwrap()],
            denied_prefixes: vec!["+49151".into()],
            number_types: vec![NumberKind::Mobile],
            trusted: vec!["+4917612345678".into()],
            shadow: false,
        }
    }

    #[test]
    fn refuses_by_country_prefix_and_type() {
        let p = policy();
        assert_eq!(check(&p, &n("+4917612345678")), Ok(()));
        assert_eq!(check(&p, &n("+447400123456")), Err(Refusal::Country));
        assert_eq!(
            check(&p, &n("+436641234567")),
            Err(Refusal::Country),
            "denied wins over allowed"
        );
        assert_eq!(check(&p, &n("+4915112345678")), Err(Refusal::Prefix));
        assert_eq!(check(&p, &n("+49 30 12345678")), Err(Refusal::Type));
        assert_eq!(check(&p, &n("+49 900 1 234567")), Err(Refusal::Type));
        assert!(is_trusted(&p, &n("0176 12345678")));
    }
}
