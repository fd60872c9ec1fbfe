//! Where a text came from. Rules declare the surfaces they apply to, and severities can differ by
//! surface: "read ~/.ssh/id_rsa" is an attack in a tool description and a routine path in a
//! user's own prompt.

use std::fmt;
use std::str::FromStr;

/// The place in an MCP exchange that a text was taken from.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Surface {
    /// A tool's name or description in `tools/list`.
    ToolDescription,
    /// Strings inside a tool's input or output schema (parameter names and descriptions).
    ToolSchema,
    /// The `arguments` of a `tools/call` request.
    ToolArguments,
    /// What a tool returned (`tools/call` result content, `structuredContent`).
    ToolResult,
    /// A resource read through `resources/read`.
    Resource,
    /// A prompt template returned by `prompts/get`.
    Prompt,
    /// The `instructions` a server sends in its `initialize` result.
    ServerInstructions,
    /// A server-to-client `sampling/createMessage` or `elicitation/create` request.
    SamplingRequest,
    /// A prompt typed by a user (or an attacker) to an agent.
    UserPrompt,
    /// An MCP client configuration file (command lines, environment blocks).
    Config,
}

impl Surface {
    /// Every surface, in a stable order.
    pub const ALL: [Surface; 10] = [
        Surface::ToolDescription,
        Surface::ToolSchema,
        Surface::ToolArguments,
        Surface::ToolResult,
        Surface::Resource,
        Surface::Prompt,
        Surface::ServerInstructions,
        Surface::SamplingRequest,
        Surface::UserPrompt,
        Surface::Config,
    ];

    /// The stable snake_case name used in rule files, policies and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::ToolDescription => "tool_description",
            Surface::ToolSchema => "tool_schema",
            Surface::ToolArguments => "tool_arguments",
            Surface::ToolResult => "tool_result",
            Surface::Resource => "resource",
            Surface::Prompt => "prompt",
            Surface::ServerInstructions => "server_instructions",
            Surface::SamplingRequest => "sampling_request",
            Surface::UserPrompt => "user_prompt",
            Surface::Config => "config",
        }
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Surface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a surface name is not one of [`Surface::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown surface `{0}` (expected one of: {names})", names = surface_names())]
pub struct UnknownSurface(pub String);

fn surface_names() -> String {
    Surface::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Surface {
    type Err = UnknownSurface;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Surface::ALL
            .iter()
            .copied()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownSurface(s.to_owned()))
    }
}

/// A set of surfaces, as a bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SurfaceSet(u16);

impl SurfaceSet {
    /// The set of every surface.
    pub fn all() -> Self {
        SurfaceSet(Surface::ALL.iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// Whether `s` is in the set.
    pub fn contains(self, s: Surface) -> bool {
        self.0 & s.bit() != 0
    }

    pub(crate) fn insert(&mut self, s: Surface) {
        self.0 |= s.bit();
    }

    /// The surfaces in the set, in [`Surface::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Surface> {
        Surface::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The set with `s` added.
    pub fn with(mut self, s: Surface) -> SurfaceSet {
        self.insert(s);
        self
    }

    /// The surfaces in both sets.
    pub fn intersection(self, other: SurfaceSet) -> SurfaceSet {
        SurfaceSet(self.0 & other.0)
    }

    /// The surfaces of this set that are not in `other`.
    pub fn without(self, other: SurfaceSet) -> SurfaceSet {
        SurfaceSet(self.0 & !other.0)
    }

    /// The surfaces in either set.
    pub fn union(self, other: SurfaceSet) -> SurfaceSet {
        SurfaceSet(self.0 | other.0)
    }

    /// Whether the set holds every surface.
    pub fn is_all(self) -> bool {
        self == SurfaceSet::all()
    }
}

impl FromIterator<Surface> for SurfaceSet {
    fn from_iter<I: IntoIterator<Item = Surface>>(iter: I) -> Self {
        let mut set = SurfaceSet::default();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Surface::ALL {
            assert_eq!(s.as_str().parse::<Surface>(), Ok(s));
        }
        assert!("tool-result".parse::<Surface>().is_err());
    }

    #[test]
    fn set_membership() {
        let set: SurfaceSet = [Surface::ToolResult, Surface::Config].into_iter().collect();
        assert!(set.contains(Surface::ToolResult));
        assert!(!set.contains(Surface::UserPrompt));
        assert_eq!(set.iter().count(), 2);
        assert!(SurfaceSet::all().is_all());
    }
}
