//! How the demo shows itself: numbered steps, indented lines, and JSON indented from its
//! own text (a `serde_json::Value` would print `12.00` as `12.0` and hide exact money).

pub(super) const STEPS: usize = 8;
const INDENT: &str = "      ";

pub(super) fn step(number: usize, title: &str) {
    println!("\n[{number}/{STEPS}] {title}");
}

pub(super) fn line(text: impl AsRef<str>) {
    println!("{INDENT}{}", text.as_ref());
}

pub(super) fn json(text: &str) {
    for l in pretty_json(text).lines() {
        println!("{INDENT}  {l}");
    }
}

/// Re-indents compact JSON text without reparsing its numbers.
fn pretty_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.trim().chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pretty_json;

    #[test]
    fn keeps_number_text_and_strings_intact() {
        let text = r#"{"a":12.00,"b":[],"c":{"d":"x, {y}: \"z\""},"e":[1,2]}"#;
        let pretty = pretty_json(text);
        assert!(pretty.contains("\"a\": 12.00,"));
        assert!(pretty.contains("\"b\": [],"));
        assert!(pretty.contains(r#""d": "x, {y}: \"z\"""#));
        let reparsed: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(
            reparsed,
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
    }
}
