//! The environment a sandboxed command gets: an allow-list, so that the caller's tokens and
//! keys (`GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`, ...) stay behind unless named.

use std::ffi::OsString;

/// Variables passed on: where programs are, who and where the user is, language, terminal and
/// time zone (and every `LC_*`).
pub(crate) const KEPT: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR",
];

/// The variables of `vars` on the allow-list or named in `extra`.
pub(crate) fn kept(
    vars: impl Iterator<Item = (OsString, OsString)>,
    extra: &[String],
) -> Vec<(OsString, OsString)> {
    vars.filter(|(name, _)| {
        name.to_str().is_some_and(|n| {
            KEPT.contains(&n) || n.starts_with("LC_") || extra.iter().any(|e| e == n)
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allow_list_and_the_named_pass() {
        let vars = [
            ("PATH", "/usr/bin"),
            ("LC_ALL", "C"),
            ("GITHUB_TOKEN", "ghp_secret"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("MY_SERVER_URL", "http://localhost"),
            ("PATHX", "no"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let got = kept(vars.into_iter(), &["MY_SERVER_URL".to_owned()]);
        let names: Vec<_> = got
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["PATH", "LC_ALL", "MY_SERVER_URL"]);
    }
}
