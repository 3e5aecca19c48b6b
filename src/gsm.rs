//! GSM 03.38: which texts fit the 7-bit default alphabet (else Nexmo needs
//! `type=unicode`), and how many SMS parts a text takes.

/// The basic table, in code-point order.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: each costs two septets (ESC + code).
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

fn septets(c: char) -> Option<usize> {
    if c != '\u{1b}' && BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// How a text travels: GSM 7-bit septets, or UCS-2 (`type=unicode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Gsm7,
    Ucs2,
}

/// Whether every character is in the GSM default alphabet or its extension.
pub(crate) fn is_gsm(text: &str) -> bool {
    text.chars().all(|c| septets(c).is_some())
}

/// SMS parts for `text` in the encoding it needs.
pub(crate) fn parts(text: &str) -> usize {
    let encoding = if is_gsm(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    };
    parts_as(text, encoding)
}

/// SMS parts for `text` sent as `encoding`: 160 septets single / 153 per
/// part for GSM (a character outside the alphabet is sent as one septet,
/// as Nexmo substitutes it), 70 / 67 UTF-16 units for UCS-2. An escape pair
/// or a surrogate pair is never split across parts.
pub(crate) fn parts_as(text: &str, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 => segments(text.chars().map(|c| septets(c).unwrap_or(1)), 160, 153),
        Encoding::Ucs2 => segments(text.chars().map(char::len_utf16), 70, 67),
    }
}

fn segments(units: impl Iterator<Item = usize> + Clone, single: usize, per_part: usize) -> usize {
    if units.clone().sum::<usize>() <= single {
        return 1;
    }
    let (mut parts, mut used) = (1, 0);
    for n in units {
        if used + n > per_part {
            parts += 1;
            used = 0;
        }
        used += n;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_gsm_alphabet() {
        assert!(is_gsm("Hello über Ärger @ £5 {x} €"));
        assert!(!is_gsm("ç")); // only upper-case Ç is in the table
        assert!(!is_gsm("Привет"));
        assert!(!is_gsm("😀"));
        assert!(!is_gsm("`"));
    }

    #[test]
    fn counts_parts() {
        assert_eq!(parts(&"a".repeat(160)), 1);
        assert_eq!(parts(&"a".repeat(161)), 2);
        assert_eq!(parts(&"a".repeat(306)), 2);
        assert_eq!(parts(&"a".repeat(307)), 3);
        assert_eq!(parts(&"€".repeat(80)), 1);
        assert_eq!(parts(&"€".repeat(81)), 2);
        assert_eq!(parts(&"ж".repeat(70)), 1);
        assert_eq!(parts(&"ж".repeat(71)), 2);
        assert_eq!(parts(&"ж".repeat(134)), 2);
        assert_eq!(parts(&"ж".repeat(135)), 3);
        // A surrogate pair (two units) is not split: 33 emoji fill 66 of a
        // part's 67 units, the 34th starts the next part.
        assert_eq!(parts(&"😀".repeat(35)), 1);
        assert_eq!(parts(&"😀".repeat(36)), 2);
        assert_eq!(parts(&"😀".repeat(67)), 3);
        // Declared as text, a character outside the alphabet is one septet.
        assert_eq!(parts_as(&"ж".repeat(160), Encoding::Gsm7), 1);
    }
}
