//! Cutting text to a byte budget without splitting a character: the one
//! helper the encoders, the exports and the registry's name tables share.

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn cuts_before_a_split_character() {
        assert_eq!(super::cut("héllo", 2), "h");
        assert_eq!(super::cut("héllo", 3), "hé");
        assert_eq!(super::cut("abc", 8), "abc");
        assert_eq!(super::cut("é", 0), "");
    }
}
