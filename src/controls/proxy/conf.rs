//! Just enough of nginx's configuration syntax to judge a live file:
//! directives with arguments, and blocks. Comments are dropped; quoting is
//! respected for `#`, `;` and braces.

/// A directive: `name args… ;` or `name args… { children }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    pub children: Option<Vec<Directive>>,
}

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
    };
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => quote = Some(ch),
            (None, '#') => {
                flush(&mut cur, &mut out);
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            (None, ';' | '{' | '}') => {
                flush(&mut cur, &mut out);
                out.push(ch.to_string());
            }
            (None, c) if c.is_whitespace() => flush(&mut cur, &mut out),
            (None, c) => cur.push(c),
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// Parses a configuration; `Err` on unbalanced braces.
pub fn parse(text: &str) -> Result<Vec<Directive>, String> {
    let toks = tokens(text);
    let mut pos = 0;
    let out = block(&toks, &mut pos, 0)?;
    if pos < toks.len() {
        return Err("unexpected `}`".into());
    }
    Ok(out)
}

fn block(toks: &[String], pos: &mut usize, depth: usize) -> Result<Vec<Directive>, String> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    while let Some(t) = toks.get(*pos) {
        *pos += 1;
        match t.as_str() {
            ";" => {
                if let Some((name, args)) = words.split_first() {
                    out.push(Directive {
                        name: name.clone(),
                        args: args.to_vec(),
                        children: None,
                    });
                }
                words.clear();
            }
            "{" => {
                let children = block(toks, pos, depth + 1)?;
                let (name, args) = words
                    .split_first()
                    .ok_or_else(|| "a block without a directive name".to_string())?;
                out.push(Directive {
                    name: name.clone(),
                    args: args.to_vec(),
                    children: Some(children),
                });
                words.clear();
            }
            "}" if depth > 0 => return Ok(out),
            "}" => {
                *pos -= 1;
                return Ok(out);
            }
            w => words.push(w.to_string()),
        }
    }
    if depth > 0 {
        return Err("unclosed `{`".into());
    }
    Ok(out)
}

/// Every directive named `name`, at any depth, with its ancestors' names.
pub fn find<'a>(tree: &'a [Directive], name: &str) -> Vec<&'a Directive> {
    let mut out = Vec::new();
    for d in tree {
        if d.name == name {
            out.push(d);
        }
        if let Some(c) = &d.children {
            out.extend(find(c, name));
        }
    }
    out
}

impl Directive {
    /// Direct children named `name`.
    pub fn child(&self, name: &str) -> Vec<&Directive> {
        self.children
            .iter()
            .flatten()
            .filter(|d| d.name == name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_blocks_comments_and_quotes() {
        let t = parse(
            "user www-data; # the user\nhttp {\n  add_header X \"a; b # c\" always;\n  upstream u { server 10.0.0.1:80 max_fails=3; }\n}\n",
        )
        .expect("parses");
        assert_eq!(t[0].name, "user");
        assert_eq!(t[0].args, ["www-data"]);
        let h = find(&t, "add_header");
        assert_eq!(h[0].args, ["X", "a; b # c", "always"]);
        let up = find(&t, "upstream");
        assert_eq!(up[0].args, ["u"]);
        assert_eq!(
            up[0].child("server")[0].args,
            ["10.0.0.1:80", "max_fails=3"]
        );
        assert!(parse("http {").is_err());
        assert!(parse("}").is_err());
    }
}
