use super::*;

fn block(search: &str, replace: &str) -> EditBlock {
    EditBlock { search: search.into(), replace: replace.into() }
}

fn apply(content: &str, search: &str, replace: &str) -> Result<String, EditError> {
    apply_edit(content, &[block(search, replace)]).map_err(|(index, err)| {
        assert_eq!(index, 0);
        err
    })
}

#[test]
fn an_exact_match_is_replaced() {
    assert_eq!(apply("a\nb\nc\n", "b", "B").unwrap(), "a\nB\nc\n");
    assert_eq!(apply("let x = 1;", "x = 1", "y = 2").unwrap(), "let y = 2;");
    assert_eq!(apply("a\nb\nc\n", "a\nb", "x").unwrap(), "x\nc\n");
    assert_eq!(apply("é😀é", "😀", "").unwrap(), "éé");
}

#[test]
fn an_exact_match_found_twice_is_ambiguous() {
    assert_eq!(apply("x\nx\n", "x", "y"), Err(EditError::Ambiguous { count: 2 }));
    // Overlapping places count too.
    assert_eq!(apply("aaa", "aa", "b"), Err(EditError::Ambiguous { count: 2 }));
}

#[test]
fn lines_match_despite_trailing_whitespace() {
    let file = "fn a() {  \n    one();\t\n}\n";
    assert_eq!(apply(file, "fn a() {\n    one();", "fn b() {\n    two();").unwrap(), "fn b() {\n    two();\n}\n");
    // The search's own trailing spaces do not matter either.
    assert_eq!(apply("a\nb\n", "a  \nb ", "c").unwrap(), "c\n");
}

#[test]
fn lines_ignoring_trailing_whitespace_that_fit_twice_are_ambiguous() {
    assert_eq!(apply("a \nb\na\t\nb\n", "a\nb", "c"), Err(EditError::Ambiguous { count: 2 }));
}

#[test]
fn lines_match_despite_indentation_and_the_replacement_is_shifted() {
    let file = "fn main() {\n        if x {\n            go();\n        }\n}\n";
    let search = "if x {\n    go();\n}";
    let replace = "if y {\n    stop();\n\n    go();\n}";
    let want = "fn main() {\n        if y {\n            stop();\n\n            go();\n        }\n}\n";
    assert_eq!(apply(file, search, replace).unwrap(), want);
}

#[test]
fn an_over_indented_search_shifts_the_replacement_left() {
    let file = "if x {\n  go();\n}\n";
    let search = "    if x {\n      go();\n    }";
    let replace = "    if x {\n      stop();\n    }";
    assert_eq!(apply(file, search, replace).unwrap(), "if x {\n  stop();\n}\n");
}

#[test]
fn indentation_that_is_not_a_pure_prefix_change_leaves_the_replacement_as_given() {
    let file = "\tif x {\n\t\tgo();\n\t}\n";
    let search = "  if x {\n    go();\n  }";
    assert_eq!(apply(file, search, "  stop();").unwrap(), "  stop();\n");
}

#[test]
fn lines_ignoring_indentation_that_fit_twice_are_ambiguous() {
    let file = "  a\n  b\n    a\n    b\n";
    assert_eq!(apply(file, "a\nb", "c"), Err(EditError::Ambiguous { count: 2 }));
}

#[test]
fn a_search_found_nowhere_or_blank_is_not_found() {
    assert_eq!(apply("a\nb\n", "c", "d"), Err(EditError::NotFound));
    assert_eq!(apply("a\nb\n", "", "d"), Err(EditError::NotFound));
    assert_eq!(apply("a\n\nb\n", " \n", "d"), Err(EditError::NotFound));
    assert_eq!(apply("", "a", "b"), Err(EditError::NotFound));
}

#[test]
fn blocks_apply_in_order_and_each_sees_the_last_result() {
    let blocks = [block("a", "b"), block("b\nc", "d")];
    assert_eq!(apply_edit("a\nc\n", &blocks).unwrap(), "d\n");
    let blocks = [block("a", "b"), block("a", "c")];
    assert_eq!(apply_edit("a\n", &blocks), Err((1, EditError::NotFound)));
    let blocks = [block("a", "b"), block("b", "c"), block("x", "y")];
    assert_eq!(apply_edit("a b\n", &blocks), Err((1, EditError::Ambiguous { count: 2 })));
}

#[test]
fn crlf_files_keep_their_line_endings() {
    let file = "one\r\ntwo\r\nthree\r\n";
    assert_eq!(apply(file, "one\ntwo", "uno\ndos").unwrap(), "uno\r\ndos\r\nthree\r\n");
    assert_eq!(apply(file, "two  \nthree", "2\n3").unwrap(), "one\r\n2\r\n3\r\n");
    assert_eq!(apply(file, "  two\n  three", "  2\n  3").unwrap(), "one\r\n2\r\n3\r\n");
    assert_eq!(apply(file, "two\r\n", "deux\r\n").unwrap(), "one\r\ndeux\r\nthree\r\n");
}

#[test]
fn a_file_without_a_final_newline_keeps_it_that_way() {
    assert_eq!(apply("a\nb  ", "b", "c\nd").unwrap(), "a\nc\nd  ");
    assert_eq!(apply("a\nb  ", "b\t", "c\nd").unwrap(), "a\nc\nd");
    assert_eq!(apply("a\n  b", "b", "c").unwrap(), "a\n  c");
    assert_eq!(apply("a\nb  ", "b\t", "").unwrap(), "a");
    assert_eq!(apply("a\nb\n", "a\t", "").unwrap(), "b\n");
}

#[test]
fn edit_error_codes_are_stable() {
    assert_eq!(EditError::NotFound.as_str(), "search-not-found");
    assert_eq!(EditError::Ambiguous { count: 3 }.as_str(), "search-ambiguous");
    assert_eq!(EditError::Ambiguous { count: 3 }.to_string(), "the search text matches 3 places in the file");
}
