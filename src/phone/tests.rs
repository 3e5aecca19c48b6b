use super::*;

fn region(code: &str) -> Country {
    Country::parse(code).unwrap()
}

/// (name, input, region for national numbers, expected display or reason)
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "de mobile national",
        "0176 12345678",
        "DE",
        "+49 176 12345678",
    ),
    (
        "de mobile compact",
        "017612345678",
        "DE",
        "+49 176 12345678",
    ),
    (
        "de international",
        "+49 176 12345678",
        "US",
        "+49 176 12345678",
    ),
    (
        "de international compact stays german with a us default",
        "+4917612345678",
        "US",
        "+49 176 12345678",
    ),
    (
        "de 00 prefix",
        "0049 176 12345678",
        "US",
        "+49 176 12345678",
    ),
    (
        "de 00 prefix compact",
        "004917612345678",
        "FR",
        "+49 176 12345678",
    ),
    (
        "de trunk marker",
        "+49 (0)176 1234 5678",
        "US",
        "+49 176 12345678",
    ),
    ("de dashes", "+49-176-1234-5678", "US", "+49 176 12345678"),
    ("de dots", "0176.1234.5678", "DE", "+49 176 12345678"),
    ("de brackets", "(0176) 123 456 78", "DE", "+49 176 12345678"),
    ("de slash", "0176/12345678", "DE", "+49 176 12345678"),
    (
        "de full-width digits",
        "０１７６ １２３４５６７８",
        "DE",
        "+49 176 12345678",
    ),
    (
        "de full-width plus",
        "＋４９ １７６ １２３４５６７８",
        "US",
        "+49 176 12345678",
    ),
    (
        "de arabic-indic digits",
        "٠١٧٦١٢٣٤٥٦٧٨",
        "DE",
        "+49 176 12345678",
    ),
    (
        "de eastern arabic digits",
        "۰۱۷۶۱۲۳۴۵۶۷۸",
        "DE",
        "+49 176 12345678",
    ),
    (
        "de devanagari digits",
        "०१७६१२३४५६७८",
        "DE",
        "+49 176 12345678",
    ),
    (
        "de plus decoded as space",
        " 4917612345678",
        "DE",
        "+49 176 12345678",
    ),
    (
        "de nbsp separators",
        "0176\u{a0}1234\u{a0}5678",
        "DE",
        "+49 176 12345678",
    ),
    ("de unicode dash", "0176‐12345678", "DE", "+49 176 12345678"),
    (
        "de fixed line berlin",
        "030 12345678",
        "DE",
        "+49 30 12345678",
    ),
    ("de two digits", "12", "DE", "invalid"),
    ("de short invalid", "+49 123", "US", "invalid"),
    (
        "de too short after the country code",
        "+49 1",
        "US",
        "too_short",
    ),
    (
        "de national mobile is too long in the us",
        "0176 12345678",
        "US",
        "too_long",
    ),
    (
        "vanity letters are refused",
        "0176ABCDEFGH",
        "DE",
        "not_a_number",
    ),
    ("garbage", "abcdefg", "DE", "not_a_number"),
    ("script injection", "<script>", "DE", "not_a_number"),
    ("two pluses", "++4917612345678", "DE", "not_a_number"),
    ("plus in the middle", "0176+12345678", "DE", "not_a_number"),
    (
        "extension text",
        "0176 12345678 ext. 12",
        "DE",
        "not_a_number",
    ),
    ("only separators", "--- ()", "DE", "not_a_number"),
    (
        "unknown country code",
        "+999 1234567",
        "DE",
        "invalid_country",
    ),
    ("21 digits", "123456789012345678901", "DE", "too_long"),
    (
        "over the input cap",
        "0176 12345678                                                     ",
        "DE",
        "too_long",
    ),
    ("us", "+1 212-555-1234", "DE", "+1 212-555-1234"),
    ("us national", "(212) 555-1234", "US", "+1 212-555-1234"),
    (
        "us 011 prefix from the us",
        "011 49 176 12345678",
        "US",
        "+49 176 12345678",
    ),
    ("jamaica", "+1 876-555-1234", "DE", "+1 876-555-1234"),
    ("canada", "+1 604 555 5555", "DE", "+1 604-555-5555"),
    ("gb fixed", "020 7183 8750", "GB", "+44 20 7183 8750"),
    ("gb mobile", "07400 123456", "GB", "+44 7400 123456"),
    (
        "gb international",
        "+44 7400 123456",
        "DE",
        "+44 7400 123456",
    ),
    ("fr mobile", "06 12 34 56 78", "FR", "+33 6 12 34 56 78"),
    (
        "fr international",
        "+33612345678",
        "DE",
        "+33 6 12 34 56 78",
    ),
    ("at mobile", "0664 1234567", "AT", "+43 664 1234567"),
    ("ch mobile", "078 123 45 67", "CH", "+41 78 123 45 67"),
    ("it mobile", "312 345 6789", "IT", "+39 312 345 6789"),
    ("es mobile", "612 34 56 78", "ES", "+34 612 34 56 78"),
    ("nl mobile", "06 12345678", "NL", "+31 6 12345678"),
    ("pl mobile", "512 345 678", "PL", "+48 512 345 678"),
    ("se mobile", "070-123 45 67", "SE", "+46 70 123 45 67"),
    ("in mobile", "98765 43210", "IN", "+91 98765 43210"),
    ("br mobile", "(11) 91234-5678", "BR", "+55 11 91234-5678"),
    ("jp mobile", "090-1234-5678", "JP", "+81 90-1234-5678"),
    ("cn mobile", "131 2345 6789", "CN", "+86 131 2345 6789"),
    ("au mobile", "0412 345 678", "AU", "+61 412 345 678"),
    (
        "ru mobile with 8 trunk",
        "8 912 345-67-89",
        "RU",
        "+7 912 345-67-89",
    ),
    ("za mobile", "071 123 4567", "ZA", "+27 71 123 4567"),
    ("mx mobile", "+52 55 1234 5678", "DE", "+52 55 1234 5678"),
    ("be mobile", "0470 12 34 56", "BE", "+32 470 12 34 56"),
    ("dk mobile", "20 12 34 56", "DK", "+45 20 12 34 56"),
    ("no mobile", "412 34 567", "NO", "+47 41 23 45 67"),
    ("ie mobile", "085 012 3456", "IE", "+353 85 012 3456"),
    ("pt mobile", "912 345 678", "PT", "+351 912 345 678"),
    ("tr mobile", "0501 234 56 78", "TR", "+90 501 234 56 78"),
    ("de premium rate", "0900 1 234567", "DE", "+49 900 1 234567"),
    ("de toll free", "0800 1234567", "DE", "+49 800 1234567"),
];

#[test]
fn normalises_a_table_of_numbers() {
    assert!(CASES.len() >= 60);
    let mut failures = Vec::new();
    for (name, input, default, want) in CASES {
        let got = match parse(input, || [region(default)]) {
            Ok(n) => n.display().to_string(),
            Err(e) => e.reason().to_string(),
        };
        if got != *want {
            failures.push(format!(
                "{name}: {input:?} ({default}) gave {got:?}, want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn covers_at_least_fifteen_countries() {
    let countries: std::collections::BTreeSet<_> = CASES
        .iter()
        .filter_map(|(_, input, default, _)| parse(input, || [region(default)]).ok())
        .filter_map(|n| n.country())
        .collect();
    assert!(countries.len() >= 15, "{countries:?}");
}

#[test]
fn carries_e164_country_and_type() {
    let n = parse("0176 12345678", || [region("DE")]).unwrap();
    assert_eq!(n.e164(), "+4917612345678");
    assert_eq!(n.e164_digits(), "4917612345678");
    assert_eq!(n.country().map(|c| c.code()).as_deref(), Some("DE"));
    assert_eq!(n.kind(), NumberKind::Mobile);
    let fixed = parse("030 12345678", || [region("DE")]).unwrap();
    assert_eq!(fixed.kind(), NumberKind::FixedLine);
    let premium = parse("0900 1 234567", || [region("DE")]).unwrap();
    assert_eq!(premium.kind(), NumberKind::PremiumRate);
}

#[test]
fn international_input_never_asks_for_a_region() {
    let n = parse("+44 7400 123456", || -> [Country; 0] {
        panic!("guessed a region for an international number")
    });
    assert!(n.is_ok());
}

#[test]
fn masks_numbers_for_logs() {
    let n = parse("+4917612345678", || [region("DE")]).unwrap();
    assert_eq!(n.masked(), "+49 176 ****5678");
    assert_eq!(format!("{n:?}"), "PhoneNumber(+49 176 ****5678)");
    let us = parse("+12125551234", || [region("DE")]).unwrap();
    assert_eq!(us.masked(), "+1 212-***-1234");
}

#[test]
fn knows_countries() {
    assert!(Country::known("de").is_some());
    assert!(Country::known("DE").is_some());
    for bad in ["", "D", "DEU", "ZZ", "XK1", "12", "001"] {
        assert!(Country::known(bad).is_none(), "{bad}");
    }
    assert!(Country::parse("QQ").is_err());
}

#[test]
fn a_national_number_is_read_in_the_first_region_it_is_valid_in() {
    // An English-language browser with no geo-IP answer, default DE.
    let n = parse("0176 12345678", || [region("US"), region("DE")]).unwrap();
    assert_eq!(n.e164(), "+4917612345678");
    assert_eq!(n.read_in().map(|c| c.code()).as_deref(), Some("DE"));
    // Valid in the first: that reading, even where a later one is too.
    let n = parse("020 7946 0958", || [region("GB"), region("DE")]).unwrap();
    assert_eq!(n.read_in().map(|c| c.code()).as_deref(), Some("GB"));
    // Valid nowhere: why not in the first.
    let why = parse("0176 1234567890123", || [region("US"), region("DE")]).unwrap_err();
    assert_eq!(
        why,
        parse("0176 1234567890123", || [region("US")]).unwrap_err()
    );
    // International input is not read in a region.
    let n = parse("+4917612345678", || [region("US")]).unwrap();
    assert_eq!(n.read_in(), None);
}

#[test]
fn input_invalid_in_every_region_alike_is_read_once() {
    // Past any national length: the later regions are never tried.
    let long = format!("0176 {}", "1".repeat(25));
    let asked = std::cell::Cell::new(0);
    let counter = &asked;
    let regions = move || {
        ["US", "DE", "GB"].into_iter().map(move |c| {
            counter.set(counter.get() + 1);
            region(c)
        })
    };
    let why = parse(&long, regions).unwrap_err();
    assert_eq!(asked.get(), 1);
    assert_eq!(why, parse(&long, || [region("US")]).unwrap_err());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Valid numbers of several regions and kinds.
    const NUMBERS: [&str; 10] = [
        "+4917612345678",
        "+447400123456",
        "+12125551234",
        "+33612345678",
        "+436641234567",
        "+41791234567",
        "+5511961234567",
        "+819012345678",
        "+61412345678",
        "+919876543210",
    ];

    /// `digits` spelled with separators between random groups, some digits
    /// in other scripts, and `+`, `＋`, `00` or a leading space for the
    /// international prefix.
    fn spelling(digits: &str, cuts: &[(usize, usize)], scripts: &[usize], prefix: usize) -> String {
        const SEPARATORS: [&str; 6] = [" ", "-", ".", "/", "\u{a0}", "  "];
        let mut out = String::from(["+", "\u{ff0b}", "00", "+ "][prefix % 4]);
        for (i, c) in digits.chars().enumerate() {
            if let Some((_, s)) = cuts.iter().find(|(at, _)| *at == i) {
                out.push_str(SEPARATORS[*s % SEPARATORS.len()]);
            }
            let d = c.to_digit(10).unwrap_or(0);
            out.push(match scripts.get(i).copied().unwrap_or(0) % 4 {
                1 => char::from_u32(0xFF10 + d).unwrap_or(c), // fullwidth
                2 => char::from_u32(0x0660 + d).unwrap_or(c), // Arabic-Indic
                _ => c,
            });
        }
        out
    }

    proptest! {
        #[test]
        fn any_spelling_of_a_number_is_that_number(
            n in 0..NUMBERS.len(),
            cuts in proptest::collection::vec((1usize..15, 0usize..6), 0..6),
            scripts in proptest::collection::vec(0usize..8, 0..15),
            prefix in 0usize..4,
        ) {
            let e164 = NUMBERS[n];
            let input = spelling(&e164[1..], &cuts, &scripts, prefix);
            let de = region("DE");
            let parsed = parse(&input, || [de]).map(|p| p.e164().to_string());
            // One number, so one counter: limiter keys are made of the E.164 form.
            prop_assert_eq!(parsed, Ok(e164.to_string()), "{:?}", input);
        }

        #[test]
        fn any_input_is_a_number_or_a_reason(input in ".{0,70}") {
            let de = region("DE");
            if let Ok(n) = parse(&input, || [de, region("US")]) {
                prop_assert!(n.e164().starts_with('+'));
                prop_assert!(!n.masked().contains(&n.e164()[n.e164().len() - 8..]));
            }
        }
    }
}
