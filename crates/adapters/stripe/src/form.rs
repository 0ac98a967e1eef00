//! Stripe's form bodies: `application/x-www-form-urlencoded` pairs whose keys
//! name nested fields in brackets (`metadata[user_id]`, `line_items[0][price]`).

use std::fmt::Write as _;

/// An ordered list of form pairs, built with bracket keys and encoded once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends `key=value`; `key` is a path of segments, `["line_items", "0", "price"]`
    /// becoming `line_items[0][price]`.
    pub(crate) fn push(&mut self, path: &[&str], value: impl Into<String>) -> &mut Self {
        self.pairs.push((bracket_key(path), value.into()));
        self
    }

    /// The body (or query string): pairs in insertion order, percent-encoded.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (key, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            encode_key(key, &mut out);
            out.push('=');
            encode_component(value, &mut out);
        }
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Whether `id` looks like a Stripe object id (`sub_1Abc...`): only such ids are
/// placed in a URL path, so none can reach another path (`..`) or add a query.
pub(crate) fn is_object_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `["a", "b", "c"]` -> `a[b][c]`.
fn bracket_key(path: &[&str]) -> String {
    let mut key = String::new();
    for (i, segment) in path.iter().enumerate() {
        if i == 0 {
            key.push_str(segment);
        } else {
            key.push('[');
            key.push_str(segment);
            key.push(']');
        }
    }
    key
}

/// A key keeps its brackets literal (as Stripe's own libraries send them, and
/// as its servers read them); every other reserved byte is escaped.
fn encode_key(key: &str, out: &mut String) {
    for part in key.split_inclusive(['[', ']']) {
        let (text, bracket) = match part.as_bytes().last() {
            Some(b'[' | b']') => part.split_at(part.len() - 1),
            _ => (part, ""),
        };
        encode_component(text, out);
        out.push_str(bracket);
    }
}

/// The WHATWG `application/x-www-form-urlencoded` byte serializer: ASCII
/// alphanumerics and `*-._` stay, a space becomes `+`, every other byte of the
/// UTF-8 form becomes `%XX`.
fn encode_component(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_use_brackets_in_insertion_order() {
        let mut form = Form::new();
        form.push(&["mode"], "subscription")
            .push(&["metadata", "user_id"], "u1")
            .push(&["line_items", "0", "price"], "price_1")
            .push(&["line_items", "0", "quantity"], "1")
            .push(&["subscription_data", "metadata", "user_id"], "u1");
        assert_eq!(
            form.encode(),
            "mode=subscription&metadata[user_id]=u1&line_items[0][price]=price_1&line_items[0][quantity]=1\
             &subscription_data[metadata][user_id]=u1"
        );
    }

    #[test]
    fn values_are_percent_encoded() {
        let mut form = Form::new();
        form.push(&["success_url"], "https://app.example/billing?session={CHECKOUT_SESSION_ID}&ok=1")
            .push(&["email"], "a+b@example.com")
            .push(&["name"], "Zoë Δ [x] 100%");
        assert_eq!(
            form.encode(),
            "success_url=https%3A%2F%2Fapp.example%2Fbilling%3Fsession%3D%7BCHECKOUT_SESSION_ID%7D%26ok%3D1\
             &email=a%2Bb%40example.com&name=Zo%C3%AB+%CE%94+%5Bx%5D+100%25"
        );
    }

    #[test]
    fn reserved_bytes_inside_key_segments_are_escaped_but_brackets_are_not() {
        let mut form = Form::new();
        form.push(&["metadata", "a&b=c"], "v");
        assert_eq!(form.encode(), "metadata[a%26b%3Dc]=v");
    }

    #[test]
    fn unreserved_characters_and_empty_values_pass_through() {
        let mut form = Form::new();
        form.push(&["starting_after"], "sub_1AbC-x.y*z").push(&["description"], "");
        assert_eq!(form.encode(), "starting_after=sub_1AbC-x.y*z&description=");
        assert!(!form.is_empty());
        assert!(Form::new().is_empty());
        assert_eq!(Form::new().encode(), "");
    }

    #[test]
    fn only_stripe_shaped_ids_reach_a_path() {
        assert!(is_object_id("sub_1PqRsTuVwXyZ"));
        for bad in ["", "..", "sub_1/../../customers", "sub_1?expand[]=x", "sub 1", "%2e%2e"] {
            assert!(!is_object_id(bad), "{bad}");
        }
    }
}
