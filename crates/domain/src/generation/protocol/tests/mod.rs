mod edit;
mod parser;
mod split;

use super::*;

fn path(raw: &str) -> FilePath {
    FilePath::parse(raw).unwrap()
}

/// Everything a reply yields, adjacent prose joined.
fn run(pieces: &[&str]) -> (Vec<Parsed>, Option<OpenOperation>) {
    let mut parser = ProtocolParser::new();
    let mut items = Vec::new();
    for piece in pieces {
        items.extend(parser.push(piece));
    }
    let (rest, open) = parser.finish();
    items.extend(rest);
    (join_prose(items), open)
}

fn parse(reply: &str) -> Vec<Parsed> {
    let (items, open) = run(&[reply]);
    assert_eq!(open, None, "nothing should stay open in {reply:?}");
    items
}

fn join_prose(items: Vec<Parsed>) -> Vec<Parsed> {
    let mut joined: Vec<Parsed> = Vec::new();
    for item in items {
        match (joined.last_mut(), item) {
            (_, Parsed::Prose(text)) if text.is_empty() => panic!("empty prose"),
            (Some(Parsed::Prose(last)), Parsed::Prose(text)) => last.push_str(&text),
            (_, item) => joined.push(item),
        }
    }
    joined
}

fn prose(text: &str) -> Parsed {
    Parsed::Prose(text.to_owned())
}

fn write(path_: &str, content: &str) -> Parsed {
    Parsed::Operation(Operation::Write { path: path(path_), content: content.to_owned() })
}

fn reasons(items: &[Parsed]) -> Vec<(&str, &'static str)> {
    items
        .iter()
        .filter_map(|item| match item {
            Parsed::Malformed { tag, reason, .. } => Some((tag.as_str(), reason.as_str())),
            _ => None,
        })
        .collect()
}
