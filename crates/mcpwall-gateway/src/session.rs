//! What one session remembers: requests in flight each way, and tools that were withheld.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use mcpwall_protocol::Id;

/// A request waiting for its response.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) method: String,
    pub(crate) tool: Option<String>,
    /// A `tools/list` for a page after the first (it had a cursor).
    pub(crate) paged: bool,
    /// For a `tools/list`: the listing (chain of pages) it belongs to (see [`Listings`]); 0
    /// for other requests.
    pub(crate) chain: u64,
    /// When it was sent, or when the server last reported progress on it.
    pub(crate) since: Instant,
    /// The `progressToken` the client gave it, if any.
    pub(crate) progress: Option<serde_json::Value>,
}

/// A tool call (or a read of a resource or prompt) held while a person is asked about it
/// (through the client's elicitation).
#[derive(Clone, Debug)]
pub(crate) struct Ask {
    /// The call's own id.
    pub(crate) call_id: Id,
    /// The call, as it will be forwarded once approved.
    pub(crate) call: serde_json::Value,
    /// `tools/call`, or a read of a resource or prompt (`resources/read`,
    /// `resources/subscribe`, `prompts/get`).
    pub(crate) method: String,
    /// The tool; for a read, the resource's URI or the prompt's name.
    pub(crate) tool: String,
    /// What an approval binds to: the server, the tool and its arguments (a hash).
    pub(crate) key: String,
    pub(crate) since: Instant,
}

/// A question mcpwall put to the client's user in place of a call's result (protocol
/// 2026-07-28, `input_required`): the client answers it by retrying the call with the answer.
#[derive(Clone, Debug)]
pub(crate) struct Question {
    pub(crate) tool: String,
    /// What the answer binds to: the server, the tool and its arguments (a hash); a retry
    /// with other arguments is another call.
    pub(crate) key: String,
    pub(crate) since: std::time::Instant,
}

/// The tools each `tools/list` listing defined so far: a name defined again otherwise on
/// another page of the same listing is withheld, as one named twice in one page is (which of
/// its definitions the server runs cannot be told). The same definition again (a page asked
/// for again, or a tool set that shifted between pages) is no duplicate. A listing is the
/// chain of pages its cursors lead to, resolved when a page is asked for, so that two listings
/// under way at once (a client's and the aggregated endpoint's, or a restart's) are never taken
/// for one, whatever cursors the server hands out. Names and definitions are kept as keyed
/// hashes: a chain costs 16 bytes a tool, whatever their size.
#[derive(Debug, Default)]
pub(crate) struct Listings {
    /// Chains by number, oldest first; at most [`Listings::CHAINS`]. Per chain, each name's
    /// hash and that of its first definition.
    chains: Vec<(u64, HashMap<u64, u64>)>,
    /// The chain each cursor handed out continues (by the cursor's key).
    next: HashMap<u64, u64>,
    started: u64,
}

impl Listings {
    const CHAINS: usize = 8;

    /// The chain a page asked for now belongs to: that of the listing that handed out its
    /// cursor (`page`, its key), or a new one for a first page (`page` 0) or a cursor no
    /// listing known here handed out.
    pub(crate) fn chain_of(&mut self, page: u64) -> u64 {
        if page != 0
            && let Some(&c) = self.next.get(&page)
            && self.chains.iter().any(|(k, _)| *k == c)
        {
            return c;
        }
        self.started += 1;
        if self.chains.len() >= Self::CHAINS {
            let (old, _) = self.chains.remove(0);
            self.next.retain(|_, c| *c != old);
        }
        self.chains.push((self.started, HashMap::new()));
        self.started
    }

    /// Records a page's tools as (name, definition) hashes, and the cursor key it hands out
    /// for the next page; returns the indices of the tools whose name the chain already had
    /// with another definition. A chain keeps at most `max` names: past that it starts again.
    pub(crate) fn record(
        &mut self,
        chain: u64,
        tools: &[(u64, u64)],
        next: Option<u64>,
        max: usize,
    ) -> Vec<usize> {
        let mut redefined = Vec::new();
        if let Some((_, seen)) = self.chains.iter_mut().find(|(k, _)| *k == chain) {
            for (k, &(name, definition)) in tools.iter().enumerate() {
                if seen.len() >= max {
                    seen.clear();
                }
                match seen.get(&name) {
                    Some(&d) if d != definition => redefined.push(k),
                    Some(_) => {}
                    None => {
                        seen.insert(name, definition);
                    }
                }
            }
        }
        if let Some(next) = next {
            if self.next.len() >= Self::CHAINS * 4 {
                self.next.clear();
            }
            self.next.insert(next, chain);
        }
        redefined
    }
}

/// Bounds: a peer that sends requests without ever reading responses must not grow memory
/// without limit.
pub(crate) const MAX_PENDING: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Client requests the server has not answered.
    pub(crate) from_client: HashMap<Id, Pending>,
    /// Server requests (sampling, elicitation, roots) the client has not answered.
    pub(crate) from_server: HashMap<Id, Pending>,
    /// Tools removed from `tools/list`: calls to them are refused.
    pub(crate) withheld: HashSet<String>,
    /// Tools offered to the client in a `tools/list` (that passed every check): only these
    /// may be called. A tool the client never saw listed was never inspected.
    pub(crate) offered: HashSet<String>,
    /// The `tools/list` listings under way, each a chain of pages (see [`Listings`]).
    pub(crate) listings: Listings,
    /// The last `tools/list` page was of the listing in which the server was first seen, and
    /// more pages follow: the tools on the next (asked for with its cursor) are first seen too.
    pub(crate) first_listing: bool,
    /// Resources (by URI) and prompts (by name) removed from their lists: reading or getting
    /// them is refused. Keys are `resource:URI` and `prompt:NAME`.
    pub(crate) withheld_entries: HashSet<String>,
    /// The labels offered tools' annotations suggest (`openWorldHint`, `readOnlyHint`).
    pub(crate) hints: HashMap<String, mcpwall_policy::Labels>,
    /// Withholding decisions already on record (their sentences).
    pub(crate) reported: HashSet<String>,
    /// The client declared the `elicitation` capability: it can ask its user.
    pub(crate) client_elicits: bool,
    /// Calls waiting for a person, by the id of mcpwall's `elicitation/create` request.
    pub(crate) asks: HashMap<Id, Ask>,
    /// Questions asked in place of results (2026-07-28), by their key in `inputRequests`.
    pub(crate) questions: HashMap<String, Question>,
    /// Approvals a person gave, by call key, with when they lapse.
    pub(crate) approvals: HashMap<String, Instant>,
    /// mcpwall's own requests to the client so far (their ids are numbered).
    pub(crate) asked: u64,
    /// Each offered tool's `inputSchema`, compiled (or why it could not be).
    pub(crate) schemas: HashMap<String, Result<std::sync::Arc<jsonschema::Validator>, String>>,
    /// The arguments each offered tool's schema mirrors in `Mcp-Param-*` headers.
    pub(crate) param_headers: HashMap<String, Vec<crate::param_headers::ParamHeader>>,
    /// URIs the server's results pointed to (resource links, embedded resources) not yet
    /// taken by the aggregated endpoint, oldest first, at most [`MAX_LINKS`].
    pub(crate) links: std::collections::VecDeque<String>,
}

/// Resource links remembered per session until taken, at most: the oldest go first.
pub(crate) const MAX_LINKS: usize = 1024;
