//! Phone numbers: `PhoneNumber` is made once per request from what the
//! client typed, and everything after (limiter, Nexmo client, response,
//! logs) takes it instead of a string. Valid means libphonenumber-valid,
//! not merely parseable as in the old proxy.

use rlibphonenumber::{
    ParseError, PhoneNumber as LibNumber, PhoneNumberFormat, PhoneNumberType, Region,
    ValidationError, PHONE_NUMBER_UTIL,
};
use std::fmt;

/// Longest input looked at; libphonenumber is slow on huge strings and no
/// real number with formatting comes near this.
pub(crate) const MAX_INPUT_CHARS: usize = 64;
/// More digits than any region reads as a national number:
/// libphonenumber's longest national significant number (17) after the
/// longest national prefix and carrier code it strips.
const MAX_NATIONAL_DIGITS: usize = 24;

/// An ISO 3166 alpha-2 region that libphonenumber has metadata for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country(Region);

impl Country {
    /// Accepts `"DE"` or `"de"`; refuses codes without phone metadata.
    pub fn parse(code: &str) -> Result<Country, String> {
        Country::known(code)
            .ok_or_else(|| format!("{code:?} is not a known ISO 3166 alpha-2 country code"))
    }

    /// `Some` for a known region, `None` for anything else (never an error:
    /// used on untrusted input).
    pub(crate) fn known(code: &str) -> Option<Country> {
        let code = code.trim();
        if code.len() != 2 || !code.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let region = Region::from_code(&code.to_ascii_uppercase()).ok()?;
        PHONE_NUMBER_UTIL.get_country_code_for_region(region)?;
        Some(Country(region))
    }

    pub(crate) fn code(&self) -> String {
        self.0.to_string()
    }

    fn region(self) -> Region {
        self.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.0)
    }
}

/// libphonenumber's number types, named as the API reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum NumberKind {
    Mobile,
    FixedLine,
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    Unknown,
}

impl NumberKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NumberKind::Mobile => "mobile",
            NumberKind::FixedLine => "fixed_line",
            NumberKind::FixedLineOrMobile => "fixed_line_or_mobile",
            NumberKind::TollFree => "toll_free",
            NumberKind::PremiumRate => "premium_rate",
            NumberKind::SharedCost => "shared_cost",
            NumberKind::Voip => "voip",
            NumberKind::PersonalNumber => "personal_number",
            NumberKind::Pager => "pager",
            NumberKind::Uan => "uan",
            NumberKind::Voicemail => "voicemail",
            NumberKind::Unknown => "unknown",
        }
    }

    /// The kind named by `as_str`.
    pub(crate) fn parse(name: &str) -> Option<NumberKind> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == name)
    }

    fn from_lib(t: PhoneNumberType) -> Self {
        match t {
            PhoneNumberType::Mobile => NumberKind::Mobile,
            PhoneNumberType::FixedLine => NumberKind::FixedLine,
            PhoneNumberType::FixedLineOrMobile => NumberKind::FixedLineOrMobile,
            PhoneNumberType::TollFree => NumberKind::TollFree,
            PhoneNumberType::PremiumRate => NumberKind::PremiumRate,
            PhoneNumberType::SharedCost => NumberKind::SharedCost,
            PhoneNumberType::VoIP => NumberKind::Voip,
            PhoneNumberType::PersonalNumber => NumberKind::PersonalNumber,
            PhoneNumberType::Pager => NumberKind::Pager,
            PhoneNumberType::UAN => NumberKind::Uan,
            PhoneNumberType::VoiceMail => NumberKind::Voicemail,
            PhoneNumberType::Unknown => NumberKind::Unknown,
        }
    }
}

const ALL_KINDS: [NumberKind; 12] = [
    NumberKind::Mobile,
    NumberKind::FixedLine,
    NumberKind::FixedLineOrMobile,
    NumberKind::TollFree,
    NumberKind::PremiumRate,
    NumberKind::SharedCost,
    NumberKind::Voip,
    NumberKind::PersonalNumber,
    NumberKind::Pager,
    NumberKind::Uan,
    NumberKind::Voicemail,
    NumberKind::Unknown,
];

/// A valid phone number. Made only by [`parse`].
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    e164: String,
    display: String,
    country: Option<Country>,
    kind: NumberKind,
    /// For a national number: the region it was read in.
    read_in: Option<Country>,
}

impl PhoneNumber {
    /// For a national number: the region it was read in.
    pub(crate) fn read_in(&self) -> Option<Country> {
        self.read_in
    }

    /// `+4917612345678`.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// `4917612345678`, as Nexmo's `to` wants it.
    pub(crate) fn e164_digits(&self) -> &str {
        self.e164.trim_start_matches('+')
    }

    /// INTERNATIONAL format: `+49 176 12345678`, `+1 212-555-1234`.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The region the number belongs to (`None` for non-geographic numbers).
    pub(crate) fn country(&self) -> Option<Country> {
        self.country
    }

    pub(crate) fn kind(&self) -> NumberKind {
        self.kind
    }

    /// For logs: `+49 176 ****5678`, `+1 212-***-1234`. Keeps the country code, the first group
    /// and the last four digits.
    pub(crate) fn masked(&self) -> String {
        mask_display(&self.display)
    }
}

/// The `Debug` form is masked too, so a stray `{:?}` cannot log a number.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

fn mask_display(display: &str) -> String {
    let total = display.chars().filter(char::is_ascii_digit).count();
    let mut groups = 0;
    let mut seen = 0;
    let mut out = String::with_capacity(display.len());
    for c in display.chars() {
        if c == ' ' || c == '-' {
            groups += 1;
        }
        if c.is_ascii_digit() {
            seen += 1;
            if groups >= 2 && seen + 4 <= total {
                out.push('*');
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Why an input is not a valid number; `reason()` is the API's word for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Letters or other characters no phone number has, or no digits.
    NotANumber,
    TooShort,
    TooLong,
    /// `+` followed by a country calling code that does not exist.
    InvalidCountry,
    /// The right length and shape, but in no range that is assigned.
    Invalid,
}

impl Invalid {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Invalid::NotANumber => "not_a_number",
            Invalid::TooShort => "too_short",
            Invalid::TooLong => "too_long",
            Invalid::InvalidCountry => "invalid_country",
            Invalid::Invalid => "invalid",
        }
    }
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{a0}'
            | '\u{2007}'
            | '\u{202f}'
            | '\u{3000}'
            | '\t'
            | '.'
            | '\u{ff0e}'
            | '-'
            | '\u{2010}'
            ..='\u{2015}'
                | '\u{2212}'
                | '\u{ff0d}'
                | '('
                | ')'
                | '\u{ff08}'
                | '\u{ff09}'
                | '/'
                | '\u{ff0f}'
    )
}

fn is_plus(c: char) -> bool {
    c == '+' || c == '\u{ff0b}'
}

/// Parses what a client sent. `regions` is asked only when the number is
/// national (no `+`, no `00`), so geo-IP and header parsing are skipped for
/// international input; the number is read in each in turn and the first
/// valid reading wins.
///
/// `raw` is the value as decoded from the request, untrimmed: a leading
/// space is how `?number=+49...` arrives when the client forgot to encode
/// the `+`, and is read as `+` when that gives a valid number.
pub fn parse<I>(raw: &str, regions: impl FnOnce() -> I) -> Result<PhoneNumber, Invalid>
where
    I: IntoIterator<Item = Country>,
{
    if raw.chars().count() > MAX_INPUT_CHARS {
        return Err(Invalid::TooLong);
    }
    let input = raw.trim();
    let international = input.starts_with(is_plus);
    let body = input.trim_start_matches(is_plus);
    if input.chars().count() - body.chars().count() > 1
        || !body.chars().all(|c| c.is_numeric() || is_separator(c))
    {
        return Err(Invalid::NotANumber);
    }
    let digits = PHONE_NUMBER_UTIL.normalize_digits_only(input);
    if digits.is_empty() {
        return Err(Invalid::NotANumber);
    }

    if international {
        return finish(LibNumber::parse(format!("+{digits}"), None));
    }
    if let Some(rest) = digits.strip_prefix("00") {
        return finish(LibNumber::parse(format!("+{rest}"), None));
    }
    if raw.starts_with(' ') {
        if let Ok(n) = finish(LibNumber::parse(format!("+{digits}"), None)) {
            return Ok(n);
        }
    }
    // The first region it is valid in; else why it is not a number of the
    // first (the likeliest).
    let mut first = None;
    for region in regions() {
        match finish(LibNumber::parse(input, Some(region.region()))) {
            Ok(n) => {
                return Ok(PhoneNumber {
                    read_in: Some(region),
                    ..n
                })
            }
            Err(why) => {
                first.get_or_insert(why);
                // Invalid in every region alike: another region would
                // only cost a parse.
                if digits.len() > MAX_NATIONAL_DIGITS || why == Invalid::NotANumber {
                    break;
                }
            }
        }
    }
    Err(first.unwrap_or(Invalid::NotANumber))
}

fn finish(parsed: Result<LibNumber, ParseError>) -> Result<PhoneNumber, Invalid> {
    let n = parsed.map_err(|e| match e {
        ParseError::InvalidCountryCode => Invalid::InvalidCountry,
        ParseError::TooShortAfterIdd | ParseError::TooShortNsn => Invalid::TooShort,
        ParseError::TooLongNsn => Invalid::TooLong,
        ParseError::NotANumber(_) => Invalid::NotANumber,
    })?;
    if !n.is_valid() {
        return Err(match n.is_possible_with_reason() {
            Err(ValidationError::TooShort) => Invalid::TooShort,
            Err(ValidationError::TooLong) => Invalid::TooLong,
            Err(ValidationError::InvalidCountryCode) => Invalid::InvalidCountry,
            _ => Invalid::Invalid,
        });
    }
    Ok(PhoneNumber {
        e164: n.format_as(PhoneNumberFormat::E164).into_owned(),
        display: n.format_as(PhoneNumberFormat::International).into_owned(),
        country: n
            .get_region_code()
            .filter(|r| *r != Region::World)
            .map(Country),
        kind: NumberKind::from_lib(n.get_type()),
        read_in: None,
    })
}

/// Configuration files name countries by their ISO code.
impl<'de> serde::Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Country::parse(&code).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.code())
    }
}

impl serde::Serialize for NumberKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Configuration files name types as `as_str` does.
impl<'de> serde::Deserialize<'de> for NumberKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        NumberKind::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = ALL_KINDS.iter().map(|k| k.as_str()).collect();
            serde::de::Error::custom(format!(
                "unknown number type {name:?} ({})",
                known.join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests;
