//! However the reply is cut, it yields the same operations and the same prose.

use super::*;

const SAMPLE: &str = concat!(
    "Voilà, café 😀: a < b, <div>, <devorable> and <d.\n",
    "<devora-write path=\"src/App.tsx\">\n",
    "```tsx\n",
    "export const hi = \"é😀\";\n",
    "```\n",
    "</devora-write>\n",
    "Between é.\n",
    "<devora-edit  path = 'src/a&amp;b.ts' >\n",
    "<<<<<<< SEARCH\n",
    "old 😀\n",
    "=======\n",
    "new é\n",
    ">>>>>>> REPLACE\n",
    "\n",
    "<<<<<<< SEARCH\n",
    "  two\n",
    "=======\n",
    "  deux\n",
    ">>>>>>> REPLACE\n",
    "</devora-edit>\n",
    "<devora-delete path=\"src/old&#46;css\" />",
    "<devora-rename\n  from=\"src/&quot;a&quot;.ts\" to=\"src/&#x62;.ts\"/>\n",
    "<devora-foo x=\"1\">stray</devora-edit>",
    "<devora-write path=\"../x\">\nhidden é\n</devora-write>",
    "<devora-summary>\nDid things 😀.\n</devora-summary>\n",
    "Bye 😀 </dev",
);

fn expected() -> Vec<Parsed> {
    vec![
        prose("Voilà, café 😀: a < b, <div>, <devorable> and <d.\n"),
        write("src/App.tsx", "export const hi = \"é😀\";"),
        prose("\nBetween é.\n"),
        Parsed::Operation(Operation::Edit {
            path: path("src/a&b.ts"),
            blocks: vec![
                EditBlock { search: "old 😀".into(), replace: "new é".into() },
                EditBlock { search: "  two".into(), replace: "  deux".into() },
            ],
        }),
        prose("\n"),
        Parsed::Operation(Operation::Delete { path: path("src/old.css") }),
        Parsed::Operation(Operation::Rename { from: path("src/\"a\".ts"), to: path("src/b.ts") }),
        prose("\n"),
        Parsed::Malformed {
            tag: "devora-foo".into(),
            reason: MalformedReason::UnknownTag,
            detail: "<devora-foo> is not a protocol tag (devora-write, devora-edit, devora-delete, devora-rename, devora-summary)"
                .into(),
        },
        prose("stray"),
        Parsed::Malformed {
            tag: "/devora-edit".into(),
            reason: MalformedReason::UnexpectedClosingTag,
            detail: "</devora-edit> closes nothing".into(),
        },
        Parsed::Malformed {
            tag: "devora-write".into(),
            reason: MalformedReason::InvalidPath,
            detail: "path \"../x\": must not contain . or .. segments".into(),
        },
        Parsed::Summary("Did things 😀.".into()),
        prose("\nBye 😀 </dev"),
    ]
}

#[test]
fn the_sample_reply_in_one_piece_yields_every_kind_of_item() {
    assert_eq!(run(&[SAMPLE]), (expected(), None));
}

#[test]
fn every_cut_into_two_pieces_yields_the_same() {
    for (at, _) in SAMPLE.char_indices() {
        let (head, tail) = SAMPLE.split_at(at);
        assert_eq!(run(&[head, tail]), (expected(), None), "cut at byte {at}");
    }
}

#[test]
fn one_char_at_a_time_yields_the_same() {
    let chars: Vec<String> = SAMPLE.chars().map(String::from).collect();
    let pieces: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(run(&pieces), (expected(), None));
}

/// Cuts `text` into pieces of 1..=`longest` chars, chosen by a linear
/// congruential generator from `seed`.
fn pseudo_random_pieces(text: &str, seed: u64, longest: u64) -> Vec<&str> {
    let mut state = seed;
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let take = usize::try_from((state >> 33) % longest + 1).unwrap();
        let at = rest.char_indices().nth(take).map_or(rest.len(), |(at, _)| at);
        let (piece, after) = rest.split_at(at);
        pieces.push(piece);
        rest = after;
    }
    pieces
}

#[test]
fn pseudo_random_cuts_yield_the_same() {
    for seed in [1, 7, 42, 1_000_003, 0xDEAD_BEEF, u64::MAX] {
        for longest in [2, 3, 5, 11, 64] {
            let pieces = pseudo_random_pieces(SAMPLE, seed, longest);
            assert_eq!(pieces.concat(), SAMPLE);
            assert_eq!(run(&pieces), (expected(), None), "seed {seed}, pieces of at most {longest}");
        }
    }
}

#[test]
fn a_reply_cut_off_inside_an_operation_reports_it_open_however_it_was_cut() {
    let reply = "Intro é <devora-write path=\"src/😀.ts\">\nconst a = 1;\n</devora-wri";
    let want = (vec![prose("Intro é ")], Some(OpenOperation::Write { path: path("src/😀.ts") }));
    for seed in [3, 5, 8] {
        assert_eq!(run(&pseudo_random_pieces(reply, seed, 4)), want);
    }
    for (at, _) in reply.char_indices() {
        assert_eq!(run(&[&reply[..at], &reply[at..]]), want, "cut at byte {at}");
    }
}

#[test]
fn a_long_would_be_tag_is_decided_the_same_however_it_arrives() {
    let reply =
        format!("a <devora-write path=\"{}\" and no end <devora-delete path=\"x\"/>", "p".repeat(MAX_TAG_BYTES));
    let (whole, open) = run(&[&reply]);
    assert_eq!(open, None);
    assert_eq!(reasons(&whole), vec![("devora-write", "tag-too-long")]);
    assert_eq!(whole.last(), Some(&Parsed::Operation(Operation::Delete { path: path("x") })));
    for seed in [9, 10] {
        assert_eq!(run(&pseudo_random_pieces(&reply, seed, 300)), (whole.clone(), None));
    }
}
