//! Which member of the aggregated endpoint a resource URI belongs to, from the merged
//! listings: the URIs each member listed, the fixed beginnings of the templates each listed,
//! and the URIs each member's results pointed to (resource links, embedded resources: a
//! server may serve resources it does not list). A URI two members could claim belongs to
//! neither: a read sent to the wrong server would hand one server's request (and its answer)
//! to another.
//!
//! URIs are compared in a canonical form ([`canonical`]): `DEMO://x/%74ext/./7` is
//! `demo://x/text/7` to most clients and servers, and must not slip past another member's
//! claim on it by its spelling.

use std::collections::{HashMap, HashSet, VecDeque};

/// Links remembered per member, at most: a member's oldest go first (never another's).
const MAX_LINKED: usize = 1024;

#[derive(Debug, Default)]
pub(super) struct ResourceRoutes {
    /// Which member lists each resource URI.
    resources: HashMap<String, usize>,
    /// The literal beginning of each listed resource template (up to its first `{`), and the
    /// member that lists it: a URI not listed as such goes to the member whose template
    /// prefix it has (when it has only that member's).
    templates: Vec<(String, usize)>,
    /// Templates whose fixed part is only a scheme (`file:///{path}`): they route a URI of
    /// that scheme only when no other member lists a resource or template in it.
    broad_templates: Vec<(String, usize)>,
    /// Members with a template that starts with a variable (`{+uri}`): it may expand to a URI
    /// of any scheme, so no other member's scheme-only template routes one.
    anywhere: HashSet<usize>,
    /// The members whose results pointed to each URI.
    linked: HashMap<String, Vec<usize>>,
    /// Each member's links, oldest first.
    links_of: HashMap<usize, VecDeque<String>>,
}

/// How a resource template routes the URIs it expands to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TemplateRoute {
    /// By its fixed beginning, which holds more than a scheme.
    Prefix(String),
    /// Its fixed part is only a scheme: the scheme's URIs, when no other member uses it.
    Scheme(String),
    /// It starts with a variable (or has no scheme): it could expand to any URI, and routes
    /// nothing; its URIs must be listed to be read.
    Nothing,
}

/// How `template` routes (see [`TemplateRoute`]).
pub(super) fn template_route(template: &str) -> TemplateRoute {
    let prefix = template.split('{').next().unwrap_or_default();
    match prefix.split_once("://") {
        Some((_, rest)) if !rest.trim_start_matches('/').is_empty() => {
            TemplateRoute::Prefix(prefix.to_owned())
        }
        Some(_) => TemplateRoute::Scheme(prefix.to_owned()),
        None => TemplateRoute::Nothing,
    }
}

/// Whether `template` (RFC 6570) may expand to `uri` (canonical): its fixed parts in order,
/// ASCII case aside, each expression standing for any text. Looser than the RFC (an expression
/// may expand to anything, `/` included): it serves to refuse reads of a withheld template's
/// URIs, where matching too much refuses too much and matching too little lets one through.
pub(crate) fn template_may_expand_to(template: &str, uri: &str) -> bool {
    let template = template.to_ascii_lowercase();
    let uri = uri.to_ascii_lowercase();
    // The fixed parts: before the first expression, between expressions, after the last.
    let mut parts: Vec<&str> = Vec::new();
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        parts.push(&rest[..open]);
        rest = match rest[open..].find('}') {
            Some(close) => &rest[open + close + 1..],
            // An expression never closed: it stands for the rest.
            None => "",
        };
    }
    let last = rest;
    if parts.is_empty() {
        return canonical(&template) == uri;
    }
    let first = parts[0];
    if uri.len() < first.len() + last.len() || !uri.starts_with(first) || !uri.ends_with(last) {
        return false;
    }
    let mut middle = &uri[first.len()..uri.len() - last.len()];
    for part in &parts[1..] {
        match middle.find(part) {
            Some(at) => middle = &middle[at + part.len()..],
            None => return false,
        }
    }
    true
}

impl ResourceRoutes {
    /// Replaces the listed resources (as the last resource listing gave them; each URI
    /// listed by one member only). The members in `missing`, whose listing did not come,
    /// keep theirs: their URIs must not lose their route (and fall to another's template)
    /// because they were slow. A kept URI that another member now lists (`listed`: every URI,
    /// in canonical form, that the members who answered listed) belongs to nobody.
    pub(super) fn set_resources(
        &mut self,
        resources: HashMap<String, usize>,
        missing: &[usize],
        listed: &HashSet<String>,
    ) {
        let kept: Vec<(String, usize)> = self
            .resources
            .drain()
            .filter(|(_, k)| missing.contains(k))
            .collect();
        self.resources = resources
            .into_iter()
            .map(|(u, k)| (canonical(&u), k))
            .collect();
        for (uri, k) in kept {
            if listed.contains(&uri) {
                self.resources.remove(&uri);
            } else {
                self.resources.insert(uri, k);
            }
        }
    }

    /// Replaces the templates (as the last template listing gave them); the members in
    /// `missing` keep theirs.
    pub(super) fn set_templates(&mut self, templates: &[(String, usize)], missing: &[usize]) {
        let mine = |(_, k): &(String, usize)| missing.contains(k);
        let kept_prefixes: Vec<(String, usize)> =
            self.templates.drain(..).filter(|t| mine(t)).collect();
        let kept_broad: Vec<(String, usize)> =
            self.broad_templates.drain(..).filter(|t| mine(t)).collect();
        let kept_anywhere: Vec<usize> = self
            .anywhere
            .drain()
            .filter(|k| missing.contains(k))
            .collect();
        self.templates = kept_prefixes;
        self.broad_templates = kept_broad;
        self.anywhere.extend(kept_anywhere);
        for (t, k) in templates {
            match template_route(t) {
                TemplateRoute::Prefix(p) => self.templates.push((canonical_prefix(&p), *k)),
                TemplateRoute::Scheme(p) => self.broad_templates.push((canonical_prefix(&p), *k)),
                TemplateRoute::Nothing => {
                    self.anywhere.insert(*k);
                }
            }
        }
    }

    /// Member `k`'s result pointed to `uri`.
    pub(super) fn link(&mut self, uri: &str, k: usize) {
        let uri = canonical(uri);
        let mine = self.links_of.entry(k).or_default();
        if mine.contains(&uri) {
            return;
        }
        if mine.len() >= MAX_LINKED
            && let Some(old) = mine.pop_front()
            && let Some(members) = self.linked.get_mut(&old)
        {
            members.retain(|&j| j != k);
            if members.is_empty() {
                self.linked.remove(&old);
            }
        }
        mine.push_back(uri.clone());
        self.linked.entry(uri).or_default().push(k);
    }

    /// The member that `uri` belongs to, or why none does.
    pub(super) fn owner_of(&self, uri: &str) -> Result<usize, String> {
        let shown = uri;
        let uri = canonical(uri);
        let uri = uri.as_str();
        // The members whose templates it fits; when it fits two members' (at any length: a
        // longer prefix must not take another's URIs), nobody's.
        let owners: HashSet<usize> = self
            .templates
            .iter()
            .filter(|(p, _)| uri.starts_with(p.as_str()))
            .map(|&(_, k)| k)
            .collect();
        let linkers = self.linked.get(uri).map_or(&[][..], Vec::as_slice);
        if let Some(&k) = self.resources.get(uri) {
            // Listed by one member inside another's template: whose it is cannot be told.
            if owners.iter().any(|&j| j != k) {
                return Err(format!(
                    "resource {shown:?} is listed by one server and fits another's template"
                ));
            }
            if linkers.iter().any(|&j| j != k) {
                return Err(format!(
                    "resource {shown:?} is listed by one server and pointed to by another"
                ));
            }
            return Ok(k);
        }
        // Pointed to by one member's results: its, unless another's template claims it too
        // (a scheme-only template is a weaker claim than a link).
        match linkers {
            [] => {}
            [k] if owners.iter().all(|j| j == k) => return Ok(*k),
            [_] => {
                return Err(format!(
                    "resource {shown:?} was pointed to by one server and fits another's template"
                ));
            }
            _ => {
                return Err(format!(
                    "resource {shown:?} was pointed to by more than one server"
                ));
            }
        }
        if owners.is_empty()
            && let Some(k) = self.broad_owner(uri)
        {
            return Ok(k);
        }
        match owners.iter().next() {
            Some(&k) if owners.len() == 1 => Ok(k),
            Some(_) => Err(format!(
                "resource {shown:?} matches templates of more than one server"
            )),
            None => Err(format!(
                "resource {shown:?} was not listed, nor does it match a listed template (list \
                 resources or templates first)"
            )),
        }
    }

    /// The one member with a scheme-only template that `uri` fits, when no other member lists
    /// a resource or a template of that scheme.
    fn broad_owner(&self, uri: &str) -> Option<usize> {
        let broad: HashSet<usize> = self
            .broad_templates
            .iter()
            .filter(|(p, _)| uri.starts_with(p.as_str()))
            .map(|&(_, k)| k)
            .collect();
        let (Some(&k), 1) = (broad.iter().next(), broad.len()) else {
            return None;
        };
        if self.anywhere.iter().any(|&j| j != k) {
            return None;
        }
        let (scheme, _) = uri.split_once("://")?;
        let scheme = format!("{scheme}://");
        let shared = self
            .resources
            .iter()
            .any(|(u, &j)| j != k && u.starts_with(&scheme))
            || self
                .templates
                .iter()
                .chain(&self.broad_templates)
                .any(|(t, j)| *j != k && t.starts_with(&scheme));
        (!shared).then_some(k)
    }
}

/// `uri` as it is compared: the scheme and authority in lower case, percent-encoded
/// unreserved characters decoded (and other escapes' hex digits in upper case), `.` and `..`
/// segments of the path resolved (RFC 3986, 6.2.2).
pub(crate) fn canonical(uri: &str) -> String {
    let scheme_end = uri.find(':').filter(|&i| {
        let s = &uri[..i];
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let (scheme, rest) = match scheme_end {
        Some(i) => (uri[..=i].to_ascii_lowercase(), &uri[i + 1..]),
        None => (String::new(), uri),
    };
    let (authority, rest) = match rest.strip_prefix("//") {
        Some(r) => {
            let end = r.find(['/', '?', '#']).unwrap_or(r.len());
            (format!("//{}", r[..end].to_ascii_lowercase()), &r[end..])
        }
        None => (String::new(), rest),
    };
    let tail_at = rest.find(['?', '#']).unwrap_or(rest.len());
    let (path, tail) = rest.split_at(tail_at);
    let path = without_dot_segments(&unescaped(path));
    format!("{scheme}{authority}{path}{}", unescaped(tail))
}

/// `uri` as the policy's `[[resource]]` globs see it: [`canonical`], and a `file:` URI in the
/// form servers read it in (the WHATWG URL parser of Node's `fileURLToPath`, Python's
/// `urlsplit`): `file:/p`, `file://localhost/p` and `file:////p` are `file:///p`. `Err`, saying
/// why, for a URI that a server could read as another than the globs see: one with control
/// characters (parsers delete tabs and line breaks), spaces at its ends, backslashes, escaped
/// `/`, `\`, `%` or NUL, or a `..` segment left in its query or fragment.
pub(crate) fn policy_uri(uri: &str) -> Result<String, &'static str> {
    if uri.chars().any(|c| c.is_control() || c == '\\') {
        return Err("holds control characters or backslashes");
    }
    if uri.trim() != uri {
        return Err("begins or ends with spaces");
    }
    let lower = uri.to_ascii_lowercase();
    if ["%2f", "%5c", "%25", "%00"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return Err("holds an escaped slash, backslash, percent sign or NUL");
    }
    let mut c = canonical(uri);
    if let Some(rest) = c.strip_prefix("file:") {
        let (authority, rest) = match rest.strip_prefix("//") {
            Some(r) => r.split_at(r.find(['/', '?', '#']).unwrap_or(r.len())),
            None => ("", rest),
        };
        let authority = if authority == "localhost" {
            ""
        } else {
            authority
        };
        let (path, tail) = rest.split_at(rest.find(['?', '#']).unwrap_or(rest.len()));
        let mut single = String::with_capacity(path.len());
        for ch in path.chars() {
            if !(ch == '/' && single.ends_with('/')) {
                single.push(ch);
            }
        }
        c = format!("file://{authority}{single}{tail}");
    }
    if c.split(['/', '?', '#', '&', '='])
        .any(|segment| segment == "..")
    {
        return Err("holds a `..` segment in its query or fragment");
    }
    Ok(c)
}

/// A template's fixed beginning in canonical form. Its last segment is cut short by the
/// template's first variable: `x://h/.{name}` must keep its `.`, which as a whole segment would
/// be resolved away and leave the prefix of every URI of `x://h/`.
fn canonical_prefix(prefix: &str) -> String {
    match prefix.rfind('/') {
        // Unless that `/` ends the `//` before the authority: then the rest is the authority.
        Some(i) if !prefix[..=i].ends_with("//") => {
            format!(
                "{}{}",
                canonical(&prefix[..=i]),
                unescaped(&prefix[i + 1..])
            )
        }
        _ => canonical(prefix),
    }
}

/// `s` with percent-encoded unreserved characters decoded, other escapes' hex in upper case.
fn unescaped(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            let c = char::from(u8::try_from(h * 16 + l).unwrap_or(0));
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~') {
                out.push(c);
            } else {
                out.push_str(&format!("%{:02X}", h * 16 + l));
            }
            i += 3;
            continue;
        }
        // Whole characters: `s` is valid UTF-8 and `%` is ASCII.
        let len = s[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&s[i..i + len]);
        i += len;
    }
    out
}

/// A path with its `.` and `..` segments resolved (RFC 3986, 5.2.4).
fn without_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." | ".." => {
                if *seg == ".." && out.len() > 1 {
                    out.pop();
                }
                // A dot segment at the end leaves the path ending with `/`.
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(resources: &[(&str, usize)], templates: &[(&str, usize)]) -> ResourceRoutes {
        let mut r = ResourceRoutes::default();
        r.set_resources(
            resources.iter().map(|&(u, k)| (u.to_owned(), k)).collect(),
            &[],
            &HashSet::new(),
        );
        let t: Vec<(String, usize)> = templates.iter().map(|&(t, k)| (t.to_owned(), k)).collect();
        r.set_templates(&t, &[]);
        r
    }

    #[test]
    fn the_policy_sees_a_uri_as_servers_read_it() {
        for (given, seen) in [
            ("file:///home/me/notes/a.md", "file:///home/me/notes/a.md"),
            ("file:/home/me/.ssh/id_rsa", "file:///home/me/.ssh/id_rsa"),
            ("FILE://LOCALHOST/etc/passwd", "file:///etc/passwd"),
            ("file:////etc//passwd", "file:///etc/passwd"),
            ("file:///notes/%2e%2E/etc/x", "file:///etc/x"),
            ("file://server/share/x", "file://server/share/x"),
            ("demo://x/a%20b", "demo://x/a%20b"),
        ] {
            assert_eq!(policy_uri(given).as_deref(), Ok(seen), "{given}");
        }
        for bad in [
            "file:///home/me/notes/.\t./.\t./etc/passwd",
            "file:///notes/x\n",
            " file:///etc/passwd",
            "file:///notes/..%2Fetc",
            "file:///notes/a\\..\\b",
            "file:///notes/%252e%252e/x",
            "file:///notes/x?/../../../etc/passwd",
            "file:///notes/x#/../etc/passwd",
        ] {
            assert!(policy_uri(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_uri_a_member_pointed_to_is_its_unless_another_claims_it() {
        // Member 1 lists a template inside member 0's URIs, and a scheme-only one.
        let mut r = routes(
            &[("notes://c/listed", 0)],
            &[("notes://b/{id}", 1), ("x:///{p}", 1)],
        );
        // Member 0 links one of its resources it does not list: the template claims it too.
        r.link("notes://b/report-42", 0);
        let e = r.owner_of("notes://b/report-42").unwrap_err();
        assert!(e.contains("another's template"), "{e}");
        // A link of member 0's outside any template, even in member 1's scheme-only one.
        r.link("notes://a/7", 0);
        r.link("X:///%70", 0);
        assert_eq!(r.owner_of("notes://a/7"), Ok(0));
        assert_eq!(r.owner_of("x:///p"), Ok(0));
        // Two members point to it: neither gets it; a link to another's listed URI spoils it.
        r.link("notes://a/7", 1);
        assert!(r.owner_of("notes://a/7").is_err());
        r.link("notes://c/listed", 1);
        let e = r.owner_of("notes://c/listed").unwrap_err();
        assert!(e.contains("pointed to by another"), "{e}");
        // A member's flood of links evicts only its own: member 0's stay, and what member 1
        // no longer points to is member 0's again.
        for n in 0..MAX_LINKED + 10 {
            r.link(&format!("junk://{n}"), 1);
        }
        assert_eq!(r.owner_of("notes://a/7"), Ok(0));
        assert_eq!(r.owner_of("notes://c/listed"), Ok(0));
        assert_eq!(r.owner_of("x:///p"), Ok(0));
    }

    #[test]
    fn a_member_whose_listing_did_not_come_keeps_its_routes() {
        let mut r = routes(
            &[("demo://x/1", 0), ("mine://1", 1)],
            &[("demo://x/t/{id}", 0), ("demo:///{p}", 0)],
        );
        // Member 0 did not answer: member 1's new scheme-only template routes none of its URIs.
        let listed = |uris: &[&str]| uris.iter().map(|u| (*u).to_owned()).collect();
        r.set_resources(
            HashMap::from([("mine://2".to_owned(), 1)]),
            &[0],
            &listed(&["mine://2"]),
        );
        r.set_templates(&[("demo:///{q}".to_owned(), 1)], &[0]);
        assert_eq!(r.owner_of("demo://x/1"), Ok(0));
        assert_eq!(r.owner_of("demo://x/t/5"), Ok(0));
        assert!(r.owner_of("demo:///other").is_err());
        assert!(
            r.owner_of("mine://1").is_err(),
            "member 1 answered: its old URI is gone"
        );
        // A kept URI that another member now lists belongs to neither.
        r.set_resources(
            HashMap::from([("demo://x/1".to_owned(), 1)]),
            &[0],
            &listed(&["demo://x/1"]),
        );
        assert!(r.owner_of("demo://x/1").is_err());
        // Two members that answered list it (so it is in neither's routes): nobody's either.
        let mut r = routes(&[("demo://x/1", 0)], &[]);
        r.set_resources(HashMap::new(), &[0], &listed(&["demo://x/1"]));
        assert!(r.owner_of("demo://x/1").is_err());
        let mut r = routes(&[("demo://x/1", 0)], &[("demo://x/t/{id}", 0)]);
        // Once member 0 answers, what it says replaces what it had.
        r.set_resources(HashMap::new(), &[], &HashSet::new());
        r.set_templates(&[], &[]);
        assert!(r.owner_of("demo://x/t/5").is_err());
    }

    #[test]
    fn a_template_may_expand_to_the_uris_its_fixed_parts_allow() {
        let t = template_may_expand_to;
        assert!(t("notes://{id}", "notes://7"));
        assert!(t("Notes://{id}", "notes://7"));
        assert!(t("file:///docs/{+path}", "file:///docs/a/b.md"));
        assert!(t(
            "repo://{owner}/{repo}/issues{?state}",
            "repo://a/b/issues?state=open"
        ));
        assert!(t(
            "repo://{owner}/{repo}/issues{?state}",
            "repo://a/b/issues"
        ));
        assert!(t("{+uri}", "https://x.example/"));
        assert!(t("db://{table}/rows", "db://users/rows"));
        assert!(t("db://fixed", "db://fixed"));
        assert!(t("a://{x", "a://anything"));
        assert!(!t("notes://{id}", "other://7"));
        assert!(!t("db://{table}/rows", "db://users/cols"));
        assert!(!t("repo://{owner}/{repo}/issues", "repo://a/pulls"));
        assert!(!t("db://fixed", "db://fixed2"));
        // The fixed parts do not overlap: `ab{x}ba` is not `aba`.
        assert!(!t("ab{x}ba", "aba"));
    }

    #[test]
    fn templates_route_by_their_fixed_part() {
        assert_eq!(
            template_route("test://static/resource/{id}"),
            TemplateRoute::Prefix("test://static/resource/".into())
        );
        assert_eq!(
            template_route("file:///{path}"),
            TemplateRoute::Scheme("file:///".into())
        );
        assert_eq!(
            template_route("https://{host}/x"),
            TemplateRoute::Scheme("https://".into())
        );
        assert_eq!(template_route("{anything}"), TemplateRoute::Nothing);
        assert_eq!(template_route("notes/{id}"), TemplateRoute::Nothing);
    }

    #[test]
    fn listed_uris_and_template_prefixes_route_to_their_member() {
        let r = routes(
            &[("memo://a", 0), ("test://static/resource/1", 1)],
            &[("test://static/resource/{id}", 1), ("docs://{page}", 0)],
        );
        assert_eq!(r.owner_of("memo://a"), Ok(0));
        assert_eq!(r.owner_of("test://static/resource/1"), Ok(1));
        assert_eq!(r.owner_of("test://static/resource/99"), Ok(1));
        // A prefix is not a URI: only its template's member may have what begins with it.
        assert!(r.owner_of("memo://b").is_err());
        assert!(r.owner_of("").is_err());
    }

    #[test]
    fn a_uri_two_members_could_claim_belongs_to_neither() {
        // Listed by member 0 inside member 1's template.
        let r = routes(
            &[("test://static/resource/1", 0)],
            &[("test://static/{x}", 1)],
        );
        let e = r
            .owner_of("test://static/resource/1")
            .expect_err("claimed by two");
        assert!(e.contains("fits another's template"), "{e}");
        // Fitting templates of two members, the longer prefix included.
        let r = routes(
            &[],
            &[("test://static/{x}", 1), ("test://static/resource/{id}", 0)],
        );
        let e = r
            .owner_of("test://static/resource/7")
            .expect_err("two templates");
        assert!(e.contains("more than one server"), "{e}");
        // A URI only the shorter prefix fits is that member's.
        assert_eq!(r.owner_of("test://static/other"), Ok(1));
    }

    #[test]
    fn a_scheme_only_template_routes_its_scheme_only_when_no_one_else_uses_it() {
        let r = routes(&[], &[("file:///{path}", 2)]);
        assert_eq!(r.owner_of("file:///etc/hosts"), Ok(2));
        assert!(r.owner_of("https://example.com/").is_err());
        // Another member lists a resource of that scheme: nothing routes by the scheme.
        let r = routes(&[("file:///srv/a.txt", 0)], &[("file:///{path}", 2)]);
        assert!(r.owner_of("file:///etc/hosts").is_err());
        assert_eq!(r.owner_of("file:///srv/a.txt"), Ok(0));
        // Or a template of it.
        let r = routes(&[], &[("file:///{path}", 2), ("file:///srv/{name}", 0)]);
        assert!(r.owner_of("file:///etc/hosts").is_err());
        assert_eq!(r.owner_of("file:///srv/b.txt"), Ok(0));
        // Two members with scheme-only templates of one scheme: neither.
        let r = routes(&[], &[("file:///{path}", 2), ("file:///{p}", 1)]);
        assert!(r.owner_of("file:///etc/hosts").is_err());
    }

    #[test]
    fn a_template_that_may_expand_anywhere_stops_scheme_routes() {
        let r = routes(&[], &[("file:///{path}", 2), ("{+uri}", 1)]);
        assert!(r.owner_of("file:///home/u/a").is_err());
        // Its own member's does not stop it.
        let r = routes(&[], &[("file:///{path}", 2), ("{+uri}", 2)]);
        assert_eq!(r.owner_of("file:///home/u/a"), Ok(2));
    }

    #[test]
    fn uris_are_compared_as_the_same_resource_however_spelled() {
        assert_eq!(
            canonical("DEMO://Res.Example/dynamic/%74ext/./a/../7?q=%7e#F"),
            "demo://res.example/dynamic/text/7?q=~#F"
        );
        assert_eq!(canonical("file:///a/b/../../../c"), "file:///c");
        assert_eq!(canonical("x:a%2fb%zz"), "x:a%2Fb%zz");
        assert_eq!(canonical("no scheme/./x"), "no scheme/x");
        assert_eq!(canonical("a://h/p/."), "a://h/p/");
        // A member cannot list another's resource under another spelling.
        let r = routes(
            &[("DEMO://resource/dynamic/tex%74/7", 0)],
            &[("demo://resource/dynamic/text/{id}", 1)],
        );
        let e = r
            .owner_of("DEMO://resource/dynamic/tex%74/7")
            .expect_err("claimed by two");
        assert!(e.contains("fits another's template"), "{e}");
        assert_eq!(r.owner_of("demo://resource/./dynamic/text/8"), Ok(1));
        // Nor climb out of another's template with dot segments.
        assert!(
            r.owner_of("demo://resource/dynamic/text/../../secret")
                .is_err()
        );
        // A prefix cut inside a segment keeps it.
        let r = routes(&[], &[("x://h/.{name}", 0)]);
        assert_eq!(r.owner_of("x://h/.env"), Ok(0));
        assert!(r.owner_of("x://h/other").is_err());
        let r = routes(&[], &[("x://H{/path}", 0)]);
        assert_eq!(r.owner_of("X://h/a"), Ok(0));
    }

    #[test]
    fn a_new_listing_replaces_the_last() {
        let mut r = routes(&[("memo://a", 0)], &[("docs://x/{page}", 0)]);
        r.set_resources(
            HashMap::from([("memo://b".to_owned(), 1)]),
            &[],
            &HashSet::new(),
        );
        r.set_templates(&[], &[]);
        assert!(r.owner_of("memo://a").is_err());
        assert!(r.owner_of("docs://x/1").is_err());
        assert_eq!(r.owner_of("memo://b"), Ok(1));
    }
}
