//! Network namespaces, where a test may drop packets with nft rules.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::skip_as;

/// A network namespace of the test's own, with loopback up: processes in
/// it share a private 127.0.0.1 whose packets nft rules may drop without
/// touching the host, and whose ports no other process can take, so tests
/// in it may use fixed ports. Deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// None (after saying loudly that `test`, named with
    /// [`super::test_name!`], is skipped) where this machine cannot make one.
    pub fn new(test: &str) -> Option<Netns> {
        for tool in ["ip", "nft"] {
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

    /// `program` run inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
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
    }
}
