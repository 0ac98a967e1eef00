use super::*;

#[test]
fn prose_is_held_back_only_while_it_may_start_a_tag() {
    let mut parser = ProtocolParser::new();
    assert_eq!(parser.push("Hello <d"), vec![prose("Hello ")]);
    assert_eq!(parser.push("iv> a < b"), vec![prose("<div> a < b")]);
    assert_eq!(parser.push(" <devora"), vec![prose(" ")]);
    assert_eq!(parser.push("ble"), vec![prose("<devorable")]);
    assert_eq!(parser.push("</devora-su"), vec![]);
    assert_eq!(
        parser.finish(),
        (
            vec![Parsed::Malformed {
                tag: "/devora-su".into(),
                reason: MalformedReason::UnterminatedTag,
                detail: "the reply ended inside this tag".into(),
            }],
            None
        )
    );
}

#[test]
fn a_tag_prefix_at_the_end_of_the_reply_is_prose() {
    assert_eq!(parse("x <devora"), vec![prose("x <devora")]);
    assert_eq!(parse("<"), vec![prose("<")]);
}

#[test]
fn an_operation_is_yielded_when_its_closing_tag_arrives() {
    let mut parser = ProtocolParser::new();
    assert_eq!(parser.push("<devora-write path=\"a.ts\">\nconst a"), vec![]);
    assert_eq!(parser.open_operation(), Some(OpenOperation::Write { path: path("a.ts") }));
    assert_eq!(parser.push(" = 1;\n</devora-wr"), vec![]);
    assert_eq!(parser.push("ite>done"), vec![write("a.ts", "const a = 1;"), prose("done")]);
    assert_eq!(parser.open_operation(), None);
}

#[test]
fn an_operation_cut_off_by_the_end_is_returned_open_and_never_applied() {
    let (items, open) = run(&["<devora-edit path=\"a.ts\">\n<<<<<<< SEARCH\na\n=======\n"]);
    assert_eq!(items, vec![]);
    let open = open.unwrap();
    assert_eq!((open.kind(), open.path()), ("edit", Some(&path("a.ts"))));

    let (items, open) = run(&["Sum: <devora-summary>half"]);
    assert_eq!((items, open), (vec![prose("Sum: ")], Some(OpenOperation::Summary)));
}

#[test]
fn a_write_body_loses_one_newline_at_each_end_and_its_fence() {
    assert_eq!(parse("<devora-write path=\"a\">\n\nx\n\n</devora-write>"), vec![write("a", "\nx\n")]);
    assert_eq!(parse("<devora-write path=\"a\">x</devora-write>"), vec![write("a", "x")]);
    assert_eq!(parse("<devora-write path=\"a\"></devora-write>"), vec![write("a", "")]);
    assert_eq!(parse("<devora-write path=\"a\">\r\nx\r\ny\r\n</devora-write>"), vec![write("a", "x\r\ny")]);
    let fenced = "<devora-write path=\"a\">\n```tsx\nx\n\ny\n```\n</devora-write>";
    let plain = "<devora-write path=\"a\">\nx\n\ny\n</devora-write>";
    assert_eq!(parse(fenced), parse(plain));
    assert_eq!(parse("<devora-write path=\"a\">\n```\n```\n</devora-write>"), vec![write("a", "")]);
    assert_eq!(parse("<devora-write path=\"a\">\n```\r\nx\r\n```  \r\n</devora-write>"), vec![write("a", "x")]);
    // Only a fence that wraps the whole body is stripped.
    let inner = "<devora-write path=\"README.md\">\n# Hi\n```sh\nrun\n```\n</devora-write>";
    assert_eq!(parse(inner), vec![write("README.md", "# Hi\n```sh\nrun\n```")]);
}

#[test]
fn a_write_body_is_everything_up_to_the_first_closing_write_tag() {
    let reply = "<devora-write path=\"a.html\"><devora-edit path=\"b\"></devora-edit> <div></devora-write>";
    assert_eq!(parse(reply), vec![write("a.html", "<devora-edit path=\"b\"></devora-edit> <div>")]);
}

#[test]
fn a_summary_is_trimmed_and_unfenced() {
    let reply = "<devora-summary>\n```\n  Added a page. \n```\n</devora-summary>";
    assert_eq!(parse(reply), vec![Parsed::Summary("Added a page.".into())]);
}

#[test]
fn delete_and_rename_accept_spacing_quotes_and_a_missing_slash() {
    let reply = "<devora-delete path='a.css'><devora-delete   path =\n\"b.css\"/><devora-rename to=\"d\" from=\"c\" />";
    assert_eq!(
        parse(reply),
        vec![
            Parsed::Operation(Operation::Delete { path: path("a.css") }),
            Parsed::Operation(Operation::Delete { path: path("b.css") }),
            Parsed::Operation(Operation::Rename { from: path("c"), to: path("d") }),
        ]
    );
}

#[test]
fn attribute_values_are_unescaped() {
    let reply = "<devora-delete path=\"a&amp;b &lt;&gt; &apos;&#233;&#xE9;.ts\"/>";
    assert_eq!(parse(reply), vec![Parsed::Operation(Operation::Delete { path: path("a&b <> 'éé.ts") })]);
}

#[test]
fn unknown_tags_and_attribute_problems_are_malformed() {
    let reply = concat!(
        "<devora-move path=\"a\"/>",
        "<devora >",
        "</devora-nope>",
        "<devora-delete/>",
        "<devora-rename from=\"a\"/>",
        "<devora-delete path=a/>",
        "<devora-delete path=\"/etc/passwd\"/>",
        "<devora-delete path=\"\"/>",
        "<devora-write path=\"a\"/>",
        "</devora-summary>",
    );
    assert_eq!(
        reasons(&parse(reply)),
        vec![
            ("devora-move", "unknown-tag"),
            ("devora", "unknown-tag"),
            ("/devora-nope", "unknown-tag"),
            ("devora-delete", "missing-attribute"),
            ("devora-rename", "missing-attribute"),
            ("devora-delete", "invalid-attribute"),
            ("devora-delete", "invalid-path"),
            ("devora-delete", "invalid-path"),
            ("devora-write", "missing-body"),
            ("/devora-summary", "unexpected-closing-tag"),
        ]
    );
}

#[test]
fn unknown_attributes_are_ignored() {
    let reply = "<devora-delete path=\"a\" reason=\"unused\"/>";
    assert_eq!(parse(reply), vec![Parsed::Operation(Operation::Delete { path: path("a") })]);
}

#[test]
fn a_write_with_a_bad_opening_tag_still_takes_its_body() {
    let reply = "a<devora-write>\nsecret file\n</devora-write>b";
    let items = parse(reply);
    assert_eq!(reasons(&items), vec![("devora-write", "missing-attribute")]);
    assert_eq!(items.first(), Some(&prose("a")));
    assert_eq!(items.last(), Some(&prose("b")));

    let mut parser = ProtocolParser::new();
    assert_eq!(parser.push("<devora-write path=\"..\">\nhalf"), vec![]);
    assert_eq!(parser.open_operation(), None);
    let (items, open) = parser.finish();
    assert_eq!(open, None);
    assert_eq!(reasons(&items), vec![("devora-write", "invalid-path")]);
}

#[test]
fn an_edit_holds_its_blocks_in_order() {
    let reply = concat!(
        "<devora-edit path=\"a.ts\">\r\n",
        "<<<<<<< SEARCH\r\n",
        "one\r\n",
        "two\r\n",
        "=======\r\n",
        ">>>>>>> REPLACE\r\n",
        "   \r\n",
        "<<<<<<< SEARCH\n",
        "three\n",
        "=======\n",
        "=======\n",
        "\n",
        ">>>>>>> REPLACE\n",
        "</devora-edit>",
    );
    let blocks = vec![
        EditBlock { search: "one\ntwo".into(), replace: String::new() },
        EditBlock { search: "three".into(), replace: "=======\n".into() },
    ];
    assert_eq!(parse(reply), vec![Parsed::Operation(Operation::Edit { path: path("a.ts"), blocks })]);
}

#[test]
fn malformed_edits_are_reported() {
    let cases = [
        ("\n \n", "no-edit-blocks"),
        ("\nplease change a\n", "malformed-edit-block"),
        ("<<<<<<< SEARCH\na\n>>>>>>> REPLACE\n", "malformed-edit-block"),
        ("<<<<<<< SEARCH\na\n=======\nb\n<<<<<<< SEARCH\n", "malformed-edit-block"),
        ("<<<<<<< SEARCH\na\n=======\nb\n", "malformed-edit-block"),
        ("<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\nand more\n", "malformed-edit-block"),
    ];
    for (body, reason) in cases {
        let items = parse(&format!("<devora-edit path=\"a\">{body}</devora-edit>"));
        assert_eq!(reasons(&items), vec![("devora-edit", reason)], "{body:?}");
    }
}

#[test]
fn a_closing_tag_of_another_kind_inside_a_body_is_content() {
    let reply = "<devora-summary>Use </devora-write> here.</devora-summary>";
    assert_eq!(parse(reply), vec![Parsed::Summary("Use </devora-write> here.".into())]);
}

#[test]
fn malformed_reason_codes_are_distinct_and_round_trip() {
    for reason in MalformedReason::ALL {
        assert_eq!(MalformedReason::parse(reason.as_str()), Some(reason));
    }
    let mut codes: Vec<&str> = MalformedReason::ALL.iter().map(|r| r.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), MalformedReason::ALL.len());
    assert_eq!(PROTOCOL_VERSION, 1);
}
