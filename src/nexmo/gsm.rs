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

/// Whether every character is in the GSM default alphabet or its extension.
pub fn is_gsm(text: &str) -> bool {
    text.chars().all(|c| septets(c).is_some())
}

/// SMS parts for `text`: 160 septets single / 153 per part for GSM, 70 / 67
/// UTF-16 units for unicode. An escape pair is never split across parts.
pub fn parts(text: &str) -> usize {
    if is_gsm(text) {
        let total: usize = text.chars().filter_map(septets).sum();
        if total <= 160 {
            return 1;
        }
        let (mut parts, mut used) = (1, 0);
        for n in text.chars().filter_map(septets) {
            if used + n > 153 {
                parts += 1;
                used = 0;
            }
            used += n;
        }
        parts
    } else {
        let units: usize = text.chars().map(char::len_utf16).sum();
        if units <= 70 {
            return 1;
        }
        let (mut parts, mut used) = (1, 0);
        for n in text.chars().map(char::len_utf16) {
            if used + n > 67 {
                parts += 1;
                used = 0;
            }
            used += n;
        }
        parts
    }
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
    }
}
