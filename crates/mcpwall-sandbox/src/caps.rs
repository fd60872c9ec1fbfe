//! Capabilities: none reach the sandboxed command. Run as root (a container, a service), it
//! would otherwise keep them all through the exec: make a device node for the disk, raise its
//! hard limits, change the firewall, each a way around the other walls.

use rustix::thread::{
    CapabilitySet, CapabilitySets, capabilities, capability_is_in_bounding_set,
    clear_ambient_capability_set, remove_capability_from_bounding_set, set_capabilities,
};

use crate::SandboxError;

/// Gives up every capability, for this process and what it execs: the bounding set (which
/// an exec as root would otherwise fill the permitted set from), the ambient set, and the
/// effective, permitted and inheritable sets. A process that has none, and is not root, has
/// nothing to give up (and may not change its bounding set).
pub(crate) fn drop_all() -> Result<(), SandboxError> {
    let failed = |what| {
        move |e: rustix::io::Errno| SandboxError::Process {
            what,
            source: e.into(),
        }
    };
    let now = capabilities(None).map_err(failed("read the capabilities"))?;
    let root = rustix::process::getuid().is_root() || rustix::process::geteuid().is_root();
    if !root && now.effective.is_empty() && now.permitted.is_empty() && now.inheritable.is_empty() {
        return Ok(());
    }
    if root || now.effective.contains(CapabilitySet::SETPCAP) {
        for cap in CapabilitySet::all().iter() {
            match capability_is_in_bounding_set(cap) {
                Ok(true) => remove_capability_from_bounding_set(cap)
                    .map_err(failed("drop a capability from the bounding set"))?,
                // Not held, or one this kernel does not know.
                Ok(false) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => return Err(failed("read the bounding set")(e)),
            }
        }
    }
    match clear_ambient_capability_set() {
        // A kernel without ambient capabilities (before 4.3) has none to clear.
        Ok(()) | Err(rustix::io::Errno::INVAL) => {}
        Err(e) => return Err(failed("clear the ambient capabilities")(e)),
    }
    let none = CapabilitySets {
        effective: CapabilitySet::empty(),
        permitted: CapabilitySet::empty(),
        inheritable: CapabilitySet::empty(),
    };
    set_capabilities(None, none).map_err(failed("give up the capabilities"))?;
    Ok(())
}
