use super::*;
use crate::config::CountryPolicy;

fn bundled() -> GeoIp {
    GeoIp::open(&GeoipSource::Bundled).unwrap()
}

fn code(c: Option<Country>) -> Option<String> {
    c.map(|c| c.code())
}

#[test]
fn looks_up_public_addresses_in_the_bundled_database() {
    let geo = bundled();
    for (ip, want) in [
        ("8.8.8.8", "US"),
        ("193.99.144.80", "DE"),
        ("81.2.69.160", "GB"),
        // DB-IP places this Google resolver in Canada (the 2013 MaxMind data said US).
        ("2001:4860:4860::8888", "CA"),
        ("::ffff:193.99.144.80", "DE"),
    ] {
        assert_eq!(
            code(geo.country(ip.parse().unwrap())).as_deref(),
            Some(want),
            "{ip}"
        );
    }
}

#[test]
fn special_addresses_have_no_country() {
    let geo = bundled();
    for ip in [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.1.1",
        "172.16.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "100.64.0.1",
        "169.254.1.1",
    ] {
        assert_eq!(geo.country(ip.parse().unwrap()), None, "{ip}");
    }
}

#[test]
fn disabled_geoip_finds_nothing() {
    let off = GeoIp::open(&GeoipSource::Disabled).unwrap();
    assert_eq!(off.country("8.8.8.8".parse().unwrap()), None);
}

#[test]
fn a_missing_or_broken_file_is_an_error() {
    assert!(matches!(
        GeoIp::open(&GeoipSource::File("/nonexistent/x.mmdb".into())),
        Err(GeoError::Read { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.mmdb");
    std::fs::write(&p, b"not a database").unwrap();
    assert!(matches!(
        GeoIp::open(&GeoipSource::File(p)),
        Err(GeoError::Format { .. })
    ));
}

fn policy(guess: bool) -> CountryPolicy {
    CountryPolicy {
        guess,
        default: Country::parse("DE").unwrap(),
    }
}

fn guess(guess_on: bool, param: Option<&str>, ip: &str, lang: Option<&str>) -> String {
    let hints = Hints {
        param,
        client_ip: ip.parse().unwrap(),
        accept_language: lang,
    };
    let regions = candidate_regions(&policy(guess_on), &hints, &bundled());
    let codes: Vec<String> = regions.iter().map(Country::code).collect();
    codes.join(",")
}

#[test]
fn guesses_in_order_parameter_geoip_language_default() {
    // The parameter alone, when it names a region.
    assert_eq!(guess(true, Some("fr"), "8.8.8.8", Some("en-GB")), "FR");
    // An unknown parameter is ignored.
    assert_eq!(
        guess(true, Some("ZZ"), "8.8.8.8", Some("en-GB")),
        "US,GB,DE"
    );
    assert_eq!(
        guess(true, Some("<x>"), "127.0.0.1", Some("en-GB")),
        "GB,DE"
    );
    // Geo-IP outranks Accept-Language, as in the old proxy; no repeats.
    assert_eq!(guess(true, None, "193.99.144.80", Some("en-US")), "DE,US");
    // A private address falls through to the languages, by rank.
    let lang = "fr-CH, en-US;q=0.5, de-AT;q=0.7";
    assert_eq!(guess(true, None, "10.0.0.1", Some(lang)), "CH,AT,US,DE");
    // A client cannot make a number be read in more than four regions.
    let many = "en-US, en-GB, fr-FR, it-IT, es-ES, pt-PT";
    assert_eq!(guess(true, None, "8.8.8.8", Some(many)), "US,GB,FR,DE");
    // Nothing usable: the default.
    assert_eq!(guess(true, None, "127.0.0.1", Some("fr")), "DE");
    assert_eq!(guess(true, None, "127.0.0.1", None), "DE");
}

#[test]
fn with_guessing_off_only_the_default_counts() {
    assert_eq!(guess(false, Some("US"), "8.8.8.8", Some("en-GB")), "DE");
}
