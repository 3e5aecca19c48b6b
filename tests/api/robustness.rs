//! Garbage in, a documented answer out: random number inputs never panic
//! the parser, and random parameters, headers and bodies never produce a
//! 500, a panic or a non-JSON answer.

use crate::common::TestApp;
use nexmo_proxy::phone::{self, Country};

/// A small deterministic generator, so a failure reproduces.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Random bytes, percent-encoded for a query string.
    fn encoded(&mut self, max: u64) -> String {
        let len = self.next() % max;
        (0..len)
            .map(|_| format!("%{:02X}", self.next() as u8))
            .collect()
    }

    /// Random visible ASCII, for header values.
    fn header(&mut self, max: u64) -> String {
        let len = self.next() % max;
        (0..len)
            .map(|_| char::from(b' ' + (self.next() % 95) as u8))
            .collect()
    }
}

const TOML: &str = r#"
[server]
trusted_proxies = ["127.0.0.1"]
[nexmo]
dry_run = true
[validation]
limits = []
[defaults]
limits = [{ per = "ip", max = 1000000, window = "1h" }, { per = "number", max = 1000000, window = "1h" }]
number_types = ["mobile", "fixed_line_or_mobile", "fixed_line"]
[[endpoint]]
path = "/message/"
sender = "Acme"
message = "x {p}"
[endpoint.params]
p = "[a-z]{1,8}"
"#;

#[actix_web::test]
async fn random_requests_get_documented_answers() {
    let app = TestApp::spawn(TOML);
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let paths = [
        "/validate_number/",
        "/message/",
        "/nope",
        "/message",
        "/validate_number/x",
    ];
    let fields = ["number", "receiver", "country", "p", "callback", "x"];
    for i in 0..400 {
        let path = paths[(rng.next() as usize) % paths.len()];
        let mut query = String::new();
        for _ in 0..(rng.next() % 5) {
            let f = fields[(rng.next() as usize) % fields.len()];
            query.push_str(&format!("{f}={}&", rng.encoded(40)));
        }
        let headers = [
            ("accept-language", rng.header(60)),
            ("x-forwarded-for", rng.header(60)),
            ("x-real-ip", rng.header(30)),
        ];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = if i % 3 == 0 {
            let ctype = [
                "application/json",
                "application/x-www-form-urlencoded",
                "text/plain",
            ][(rng.next() % 3) as usize];
            app.post(&format!("{path}?{query}"), ctype, &rng.header(200))
                .await
        } else {
            app.get_with(&format!("{path}?{query}"), &headers).await
        };
        assert!(
            [200, 400, 404, 405, 413, 415].contains(&a.status),
            "{path}?{query}: {} {}",
            a.status,
            a.body
        );
        let json = a.body.strip_prefix("/**/").map_or(a.body.as_str(), |s| {
            let open = s.find('(').unwrap();
            &s[open + 1..s.len() - 2]
        });
        let v: serde_json::Value = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("{path}?{query}: {e}: {}", a.body));
        assert!(v["status"] == "ok" || v["status"] == "error", "{v}");
    }
    // Still serving.
    assert_eq!(
        app.get("/validate_number/?number=%2B4917612345678")
            .await
            .json()["status"],
        "ok"
    );
    assert!(!app.logs().contains("panicked"), "{}", app.logs());
}

#[test]
fn random_number_input_never_panics_and_valid_results_round_trip() {
    let alphabet: Vec<char> = "0123456789+-() ./#*abcXYZ０１２٣४\u{a0}\u{2010}\u{ff0b}ä€😀\n\t\0"
        .chars()
        .collect();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let de = Country::parse("DE").unwrap();
    for _ in 0..20_000 {
        let len = (rng.next() % 24) as usize;
        let input: String = (0..len)
            .map(|_| alphabet[(rng.next() as usize) % alphabet.len()])
            .collect();
        if let Ok(n) = phone::parse(&input, || [de]) {
            // A valid number parses again from its own E.164 and display forms.
            for form in [n.e164(), n.display()] {
                assert_eq!(
                    phone::parse(form, || [de]).map(|m| m.e164().to_string()),
                    Ok(n.e164().to_string()),
                    "{input:?}"
                );
            }
        }
    }
}
