//! Markdown helpers: the generated blocks (between marker lines) and the escaping of table cells.

use crate::Problem;

/// The line that ends a generated block.
pub const END: &str = "<!-- end generated -->";

/// The line that opens the generated block `name`.
pub fn begin(name: &str) -> String {
    format!("<!-- generated: {name} (cargo xtask docs writes it from the code; do not edit) -->")
}

/// `text` with the block `name` holding `body`; the page must have the block's opening and end lines.
pub fn fill(text: &str, name: &str, body: &str) -> Result<String, Problem> {
    let open = begin(name);
    let Some(start) = text.find(&open) else {
        return Err(Problem(format!("the page has no line `{open}`")));
    };
    let after = start + open.len();
    let Some(len) = text[after..].find(END) else {
        return Err(Problem(format!("the block `{name}` has no `{END}` line")));
    };
    Ok(format!("{}{open}\n{body}{}", &text[..start], &text[after + len..]))
}

/// A table cell: `|` escaped, and `<`, `>` outside code spans written as entities (mdBook would take
/// `<token>` for HTML), line breaks as spaces.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '|' => out.push_str("\\|"),
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_replaced_whole() {
        let page = format!("a\n{}\nold\n{END}\nb\n", begin("x"));
        assert_eq!(fill(&page, "x", "new\n").unwrap(), format!("a\n{}\nnew\n{END}\nb\n", begin("x")));
        assert!(fill("a\n", "x", "new\n").is_err());
    }

    #[test]
    fn cells_escape_pipes_and_tags_outside_code() {
        assert_eq!(cell("a | b <t> `<t>|`"), "a \\| b &lt;t&gt; `<t>\\|`");
    }
}
