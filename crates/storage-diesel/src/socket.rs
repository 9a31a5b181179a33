//! The socket under a PostgreSQL connection, so that the watchdog can shut down the socket of a
//! connection whose server stopped answering (see `watchdog`): a thread blocked in libpq waiting
//! for a reply then wakes with "server closed the connection", and the connection is dropped.
//!
//! diesel does not expose libpq's socket, so it is found when the connection is made: among the
//! sockets that appeared meanwhile, connected, not accepted ones (their local port is none of the
//! process's listening ports), whose peer port is one the URL names, it is the only one, or else
//! the only one whose local port is the client port the server reports (`inet_client_port()`:
//! connections made at the same moment by other threads, when nothing between authd and the
//! server rewrites ports). It is reached through a
//! duplicate made with `pidfd_getfd` on this very process (safe: the duplicate is an `OwnedFd`),
//! checked again by its ports before a shutdown. Linux only; elsewhere, or when the socket is
//! ambiguous, a hung connection is bounded by the pool replacement and the request deadline.

/// A connection's socket: its descriptor number in this process, and its two ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SocketId {
    fd: i32,
    local_port: u16,
    peer_port: u16,
}

/// The sockets of the process before a connection is made (`None`: not on this system).
pub(crate) struct Before(Option<Vec<(i32, String)>>);

/// Takes the snapshot to compare with once the connection is made.
pub(crate) fn before() -> Before {
    Before(os::sockets())
}

/// The socket of the connection made since `before`, to a server on one of `ports`;
/// `client_port` (asked only when several sockets could be it) is the client port the server
/// reports.
pub(crate) fn find(before: &Before, ports: &[u16], client_port: impl FnOnce() -> Option<u16>) -> Option<SocketId> {
    let candidates = os::new_outbound(before.0.as_ref()?, ports)?;
    match candidates.as_slice() {
        [one] => Some(*one),
        [] => None,
        many => {
            let port = client_port()?;
            let mut matching = many.iter().filter(|c| c.local_port == port);
            let one = matching.next()?;
            matching.next().is_none().then_some(*one)
        }
    }
}

/// Shuts the socket down (both ways), if it is still the one found; whether it was.
pub(crate) fn shut_down(id: SocketId) -> bool {
    os::shut_down(id)
}

/// The ports a libpq URL names (its hosts' ports, or `port=`), 5432 when it names none.
pub(crate) fn url_ports(url: &str) -> Vec<u16> {
    let mut ports = Vec::new();
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    for param in query.split('&') {
        if let Some(("port", list)) = param.split_once('=') {
            ports.extend(list.split(',').filter_map(|p| p.parse::<u16>().ok()));
        }
    }
    if let Some((_, rest)) = base.split_once("://") {
        let authority = rest.split('/').next().unwrap_or_default();
        let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        for host in hosts.split(',').filter(|h| !h.is_empty()) {
            let port = match host.rsplit_once(']') {
                Some((_, tail)) => tail.strip_prefix(':'),
                None => host.rsplit_once(':').map(|(_, p)| p),
            };
            ports.push(port.and_then(|p| p.parse().ok()).unwrap_or(5432));
        }
    }
    if ports.is_empty() {
        ports.push(5432);
    }
    ports
}

#[cfg(target_os = "linux")]
mod os {
    use std::collections::HashSet;
    use std::os::fd::OwnedFd;
    use std::sync::OnceLock;

    use rustix::net::{Shutdown, SocketAddrAny, getpeername, getsockname, shutdown};
    use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};

    use super::SocketId;

    /// This process as a pidfd (`None` when the kernel has no pidfds).
    fn me() -> Option<&'static OwnedFd> {
        static ME: OnceLock<Option<OwnedFd>> = OnceLock::new();
        ME.get_or_init(|| pidfd_open(getpid(), PidfdFlags::empty()).ok())
            .as_ref()
    }

    fn port(a: SocketAddrAny) -> Option<u16> {
        std::net::SocketAddr::try_from(a).ok().map(|s| s.port())
    }

    /// The process's sockets: (descriptor, inode).
    pub(super) fn sockets() -> Option<Vec<(i32, String)>> {
        me()?;
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
            let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if let Ok(target) = std::fs::read_link(entry.path()) {
                let target = target.to_string_lossy().into_owned();
                if target.starts_with("socket:") {
                    out.push((fd, target));
                }
            }
        }
        Some(out)
    }

    /// (local port, peer port) of a connected IP socket; `Err(local)` for a listening one.
    fn ports_of(fd: i32) -> Option<Result<(u16, u16), u16>> {
        let dup = pidfd_getfd(me()?, fd, PidfdGetfdFlags::empty()).ok()?;
        let local = port(getsockname(&dup).ok()?)?;
        Some(match getpeername(&dup) {
            Ok(Some(peer)) => port(peer).map_or(Err(local), |p| Ok((local, p))),
            _ => Err(local),
        })
    }

    /// The sockets opened since `before`, connected outward to one of `ports`.
    pub(super) fn new_outbound(before: &[(i32, String)], ports: &[u16]) -> Option<Vec<SocketId>> {
        let after = sockets()?;
        let old: HashSet<&String> = before.iter().map(|(_, inode)| inode).collect();
        let mut listening = HashSet::new();
        let mut fresh = Vec::new();
        for (fd, inode) in &after {
            match ports_of(*fd) {
                Some(Err(local)) => {
                    listening.insert(local);
                }
                Some(Ok((local, peer))) if !old.contains(inode) => fresh.push((*fd, local, peer)),
                _ => {}
            }
        }
        Some(
            fresh
                .into_iter()
                .filter(|(_, local, peer)| !listening.contains(local) && ports.contains(peer))
                .map(|(fd, local_port, peer_port)| SocketId {
                    fd,
                    local_port,
                    peer_port,
                })
                .collect(),
        )
    }

    pub(super) fn shut_down(id: SocketId) -> bool {
        let Some(me) = me() else { return false };
        let Ok(dup) = pidfd_getfd(me, id.fd, PidfdGetfdFlags::empty()) else {
            return false;
        };
        // Checked on the duplicate itself: whatever happens to the number meanwhile, the socket
        // shut down is the one whose ports were checked.
        let local = getsockname(&dup).ok().and_then(port);
        let peer = getpeername(&dup).ok().flatten().and_then(port);
        local == Some(id.local_port) && peer == Some(id.peer_port) && shutdown(&dup, Shutdown::Both).is_ok()
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    use super::SocketId;

    pub(super) fn sockets() -> Option<Vec<(i32, String)>> {
        None
    }

    pub(super) fn new_outbound(_: &[(i32, String)], _: &[u16]) -> Option<Vec<SocketId>> {
        None
    }

    pub(super) fn shut_down(_: SocketId) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::url_ports;

    #[test]
    fn ports_of_urls() {
        assert_eq!(url_ports("postgres://u:p@h/db"), [5432]);
        assert_eq!(
            url_ports("postgres://h1:6001,h2:6002/db?target_session_attrs=read-write"),
            [6001, 6002]
        );
        assert_eq!(url_ports("postgresql://[::1]:7000/db"), [7000]);
        assert_eq!(url_ports("postgres:///db?host=/run/pg&port=6543"), [6543]);
    }
}
