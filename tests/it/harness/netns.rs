//! Network namespaces, where a test may give addresses, links and a
//! hosts file of its own, and drop packets with nft rules.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{bin, skip_as, Running};

/// A network namespace of the test's own, with loopback up: processes in
/// it share a private 127.0.0.1 whose packets nft rules may drop without
/// touching the host, and whose ports no other process can take, so tests
/// in it may use fixed ports. Deleted on drop, with its hosts file.
pub struct Netns {
    name: String,
}

impl Netns {
    /// None (after saying loudly that `test`, named with
    /// [`super::test_name!`], is skipped) where this machine cannot make
    /// one, or has no nft to drop packets with.
    pub fn new(test: &str) -> Option<Netns> {
        Netns::needing(test, &["ip", "nft"])
    }

    /// Like [`Netns::new`], for a test that drops no packets: only `ip`
    /// is needed.
    pub fn plain(test: &str) -> Option<Netns> {
        Netns::needing(test, &["ip"])
    }

    fn needing(test: &str, tools: &[&str]) -> Option<Netns> {
        for tool in tools {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !found {
                skip_as(
                    test,
                    &format!("`{tool}` is not installed (Debian: iproute2, nftables)"),
                );
                return None;
            }
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("hbtest-{}-{n}", std::process::id());
        let made = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .unwrap();
        if !made.status.success() {
            let why = String::from_utf8_lossy(&made.stderr).trim().to_owned();
            skip_as(
                test,
                &format!("cannot create a network namespace (root needed): {why}"),
            );
            return None;
        }
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        Some(ns)
    }

    /// The hosts file of processes run in the namespace: `ip netns exec`
    /// mounts `/etc/netns/NAME/hosts` over `/etc/hosts`.
    pub fn hosts(&self, text: &str) {
        let dir = self.etc();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hosts"), text).unwrap();
    }

    /// `/etc/netns/NAME`: what `ip netns exec` mounts over `/etc`.
    fn etc(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.name)
    }

    /// What `f` gives, run on a thread that entered the namespace: the
    /// sockets it opens stay the namespace's wherever they are used.
    pub fn within<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = Path::new("/run/netns").join(&self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = std::fs::File::open(&path).unwrap();
                // SAFETY: setns(2) moves this thread alone, which ends with
                // the scope, into the namespace the open file names.
                let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(entered, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// Links this namespace to `other` with a veth pair, with addresses
    /// (`10.0.0.1/24`) `mine` on this end and `theirs` on the other.
    pub fn link(&self, other: &Netns, mine: &[&str], theirs: &[&str]) {
        let (here, there) = ("hb0", "hb1");
        self.ip(&[
            "link",
            "add",
            here,
            "type",
            "veth",
            "peer",
            "name",
            there,
            "netns",
            &other.name,
        ]);
        for (ns, dev, addrs) in [(self, here, mine), (other, there, theirs)] {
            for addr in addrs {
                ns.ip(&["addr", "add", addr, "dev", dev]);
            }
            ns.ip(&["link", "set", dev, "up"]);
        }
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// The built tool `name` (`hb-send`), with `args`, run inside the
    /// namespace.
    pub fn tool(&self, name: &str, args: &[&str]) -> Command {
        let mut cmd = self.command(&bin(name));
        cmd.args(args);
        cmd
    }

    /// The tool `name` running inside the namespace with `--listen
    /// LISTEN` and `args`, once it says where it listens.
    pub fn bound(&self, name: &str, listen: &str, args: &[&str]) -> Running {
        let all = [&["--listen", listen][..], args].concat();
        let running = Running::start(self.tool(name, &all), &format!("{name} in netns"));
        running.listening();
        running
    }

    pub fn ip(&self, args: &[&str]) {
        let ok = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success(), "ip {args:?}");
    }

    /// Loads an nft script (`nft -f -`) inside the namespace.
    pub fn nft(&self, script: &str) {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "nft: {script}");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(self.etc());
    }
}
