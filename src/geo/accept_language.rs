//! `Accept-Language` parsing: the regions of the tags that have one, best
//! ranked first (`de-DE`, `en-GB;q=0.9`, `zh-Hans-CN`), and the preferred
//! primary languages for picking a message variant.

use crate::phone::Country;

/// Tags with their weight, best first; ties keep header order. Tags with
/// `q=0` are "not acceptable" and dropped; a malformed `q` counts as 0.
fn ranked(header: &str) -> Vec<&str> {
    let mut tags: Vec<(f32, usize, &str)> = header
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.split(';');
            let tag = it.next()?.trim();
            if tag.is_empty() {
                return None;
            }
            let mut q = 1.0f32;
            for param in it {
                if let Some((k, v)) = param.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = v
                            .trim()
                            .parse::<f32>()
                            .ok()
                            .filter(|q| (0.0..=1.0).contains(q))
                            .unwrap_or(0.0);
                    }
                }
            }
            (q > 0.0).then_some((q, i, tag))
        })
        .take(32)
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().map(|(_, _, t)| t).collect()
}

/// The region subtag of a language tag: the first two-letter subtag after
/// the language (skipping a four-letter script such as `Hans`).
fn region_of(tag: &str) -> Option<Country> {
    tag.split(['-', '_'])
        .skip(1)
        .take_while(|s| s.len() != 1) // an extension or private-use singleton ends it
        .find(|s| s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()))
        .and_then(Country::known)
}

/// The regions of the tags that have one, best first.
pub(crate) fn regions_from_accept_language(header: &str) -> impl Iterator<Item = Country> + '_ {
    ranked(header).into_iter().filter_map(region_of)
}

/// Primary language subtags, best first, lower case, without `*`.
pub(crate) fn preferred_languages(header: &str) -> Vec<String> {
    ranked(header)
        .into_iter()
        .filter_map(|t| t.split(['-', '_']).next())
        .filter(|l| *l != "*" && !l.is_empty())
        .map(|l| l.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(h: &str) -> Option<String> {
        regions_from_accept_language(h).next().map(|c| c.code())
    }

    #[test]
    fn picks_the_region_of_the_best_ranked_tag_that_has_one() {
        let cases: &[(&str, Option<&str>)] = &[
            ("de-DE", Some("DE")),
            ("en-US,en;q=0.8,de;q=0.6", Some("US")),
            ("de;q=0.5, en-GB;q=0.9", Some("GB")),
            ("zh-Hans-CN", Some("CN")),
            ("zh-Hant-TW;q=0.8, fr", Some("TW")),
            ("fr, de-AT;q=0.5", Some("AT")),
            ("fr", None),
            ("*", None),
            ("", None),
            ("en-GB;q=abc, de-CH;q=0.1", Some("CH")),
            ("en-GB;q=0, de-CH;q=0.1", Some("CH")),
            ("en-GB;q=7, pt-BR;q=0.2", Some("BR")),
            ("es-419, es-MX;q=0.9", Some("MX")),
            ("en_gb", Some("GB")),
            ("x-klingon-QQ", None),
            ("de-DE-x-private", Some("DE")),
            ("sr-Latn-RS;q=0.9, en-ZZ", Some("RS")),
            (";;;,,,", None),
        ];
        for (h, want) in cases {
            assert_eq!(region(h).as_deref(), *want, "{h:?}");
        }
    }

    #[test]
    fn lists_preferred_languages() {
        assert_eq!(
            preferred_languages("de-DE, en;q=0.9, *;q=0.1"),
            vec!["de", "en"]
        );
        assert_eq!(preferred_languages("en;q=0.2, FR-ca"), vec!["fr", "en"]);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    const TAGS: [&str; 8] = [
        "de-DE",
        "en-US",
        "fr-FR",
        "en-GB",
        "pt-BR",
        "es",
        "zh-Hans-CN",
        "*",
    ];

    proptest! {
        #[test]
        fn any_header_gives_known_regions_and_plain_languages(header in ".{0,300}") {
            prop_assert!(regions_from_accept_language(&header).count() <= 32);
            for l in preferred_languages(&header) {
                prop_assert!(l != "*" && !l.is_empty());
                prop_assert_eq!(l.to_ascii_lowercase(), l);
            }
        }

        #[test]
        fn regions_come_best_weighted_first(
            entries in proptest::collection::vec((0..TAGS.len(), 0u32..=1000), 1..10)
        ) {
            let header = entries
                .iter()
                .map(|(t, q)| format!("{};q={}.{:03}", TAGS[*t], q / 1000, q % 1000))
                .collect::<Vec<_>>()
                .join(", ");
            // What the header says, ranked by hand: weight, then order.
            let mut expected: Vec<(u32, usize, &str)> = entries
                .iter()
                .enumerate()
                .filter(|(_, (_, q))| *q > 0)
                .map(|(i, (t, q))| (*q, i, TAGS[*t]))
                .collect();
            expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let expected: Vec<String> = expected
                .into_iter()
                .filter_map(|(_, _, tag)| region_of(tag))
                .map(|c| c.code())
                .collect();
            let got: Vec<String> = regions_from_accept_language(&header).map(|c| c.code()).collect();
            prop_assert_eq!(got, expected, "{}", header);
        }
    }
}
