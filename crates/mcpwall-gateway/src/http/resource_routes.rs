//! Which member of the aggregated endpoint a resource URI belongs to, from the merged
//! listings: the URIs each member listed, and the fixed beginnings of the templates each
//! listed. A URI two members could claim belongs to neither: a read sent to the wrong server
//! would hand one server's request (and its answer) to another.

use std::collections::{HashMap, HashSet};

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

impl ResourceRoutes {
    /// Replaces the listed resources (as the last resource listing gave them).
    pub(super) fn set_resources(&mut self, resources: HashMap<String, usize>) {
        self.resources = resources;
    }

    /// Replaces the templates (as the last template listing gave them).
    pub(super) fn set_templates(&mut self, templates: &[(String, usize)]) {
        self.templates.clear();
        self.broad_templates.clear();
        for (t, k) in templates {
            match template_route(t) {
                TemplateRoute::Prefix(p) => self.templates.push((p, *k)),
                TemplateRoute::Scheme(p) => self.broad_templates.push((p, *k)),
                TemplateRoute::Nothing => {}
            }
        }
    }

    /// The member that `uri` belongs to, or why none does.
    pub(super) fn owner_of(&self, uri: &str) -> Result<usize, String> {
        // The members whose templates it fits; when it fits two members' (at any length: a
        // longer prefix must not take another's URIs), nobody's.
        let owners: HashSet<usize> = self
            .templates
            .iter()
            .filter(|(p, _)| uri.starts_with(p.as_str()))
            .map(|&(_, k)| k)
            .collect();
        if let Some(&k) = self.resources.get(uri) {
            // Listed by one member inside another's template: whose it is cannot be told.
            if owners.iter().any(|&j| j != k) {
                return Err(format!(
                    "resource {uri:?} is listed by one server and fits another's template"
                ));
            }
            return Ok(k);
        }
        if owners.is_empty()
            && let Some(k) = self.broad_owner(uri)
        {
            return Ok(k);
        }
        match owners.iter().next() {
            Some(&k) if owners.len() == 1 => Ok(k),
            Some(_) => Err(format!(
                "resource {uri:?} matches templates of more than one server"
            )),
            None => Err(format!(
                "resource {uri:?} was not listed, nor does it match a listed template (list \
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

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(resources: &[(&str, usize)], templates: &[(&str, usize)]) -> ResourceRoutes {
        let mut r = ResourceRoutes::default();
        r.set_resources(resources.iter().map(|&(u, k)| (u.to_owned(), k)).collect());
        let t: Vec<(String, usize)> = templates.iter().map(|&(t, k)| (t.to_owned(), k)).collect();
        r.set_templates(&t);
        r
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
    fn a_new_listing_replaces_the_last() {
        let mut r = routes(&[("memo://a", 0)], &[("docs://x/{page}", 0)]);
        r.set_resources(HashMap::from([("memo://b".to_owned(), 1)]));
        r.set_templates(&[]);
        assert!(r.owner_of("memo://a").is_err());
        assert!(r.owner_of("docs://x/1").is_err());
        assert_eq!(r.owner_of("memo://b"), Ok(1));
    }
}
