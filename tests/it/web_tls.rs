//! `--web-config`: TLS, client certificates and basic auth as Prometheus'
//! exporters take them, with certificates made by `openssl` here, asked
//! with `curl` and scraped by a real Prometheus; read again on SIGHUP.

use std::path::Path;
use std::process::Command;

use crate::harness::{cmd, skip, test_name, tools_installed, TempDir};
use crate::metrics::Prometheus;
use crate::web::listener_with_web;

/// A CA, and a server and a client certificate it signed, in `dir`:
/// ca.crt, server.crt/.key (for 127.0.0.1), client.crt/.key. False when
/// openssl is missing.
fn make_certificates(dir: &Path) -> bool {
    let script = r#"set -e
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=hb-test-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign
for who in server client; do
  openssl req $ec -keyout $who.key -out $who.csr -subj /CN=$who
  usage=serverAuth; [ $who = client ] && usage=clientAuth
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=%s\n' $usage >$who.ext
  openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $who.crt -days 2 -extfile $who.ext
done"#;
    let made = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output();
    match made {
        Ok(out) if out.status.success() => true,
        Ok(out) => panic!("openssl: {}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => false,
    }
}

/// The HTTP status curl got for `url` with `args`, or 0 when it got none
/// (refused, a failed handshake).
fn curl(url: &str, args: &[&str]) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

fn users(pairs: &[(&str, &str)]) -> String {
    let mut yaml = String::from("basic_auth_users:\n");
    for (user, password) in pairs {
        let hash = bcrypt::hash(password, 4).unwrap();
        yaml.push_str(&format!("  {user}: '{hash}'\n"));
    }
    yaml
}

#[test]
fn tls_client_certificates_and_basic_auth_as_prometheus_sets_them() {
    if !tools_installed(
        test_name!(),
        &[("openssl", "version"), ("curl", "--version")],
    ) {
        return;
    }
    let dir = TempDir::new();
    assert!(make_certificates(dir.path()));
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
               client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
               min_version: TLS12\n";
    let config = dir.file(
        "web.yml",
        &(tls.to_owned() + &users(&[("prometheus", "s3cret")])),
    );
    let config = config.to_str().unwrap();
    let (_listen, _, web) = listener_with_web(&["--web-config", config]);
    let https = format!("https://{web}/metrics");
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (ca, cert, key) = (at("ca.crt"), at("client.crt"), at("client.key"));
    let trusted = ["--cacert", &ca];
    let client = ["--cacert", &ca, "--cert", &cert, "--key", &key];
    // Plain HTTP is refused, and so is a client without its certificate.
    assert_eq!(curl(&format!("http://{web}/metrics"), &[]), 0);
    assert_eq!(curl(&https, &trusted), 0);
    // The client's certificate, then the right password.
    assert_eq!(curl(&https, &client), 401);
    let wrong = [&client[..], &["-u", "prometheus:wrong"]].concat();
    assert_eq!(curl(&https, &wrong), 401);
    let unknown = [&client[..], &["-u", "nobody:s3cret"]].concat();
    assert_eq!(curl(&https, &unknown), 401);
    let right = [&client[..], &["-u", "prometheus:s3cret"]].concat();
    assert_eq!(curl(&https, &right), 200);
    assert_eq!(curl(&format!("https://{web}/status"), &right), 200);

    if !Prometheus::installed() {
        skip!("`prometheus` is not installed (Debian: prometheus)");
        return;
    }
    let job = format!(
        "scheme: https\n    tls_config:\n      ca_file: {ca}\n      cert_file: {cert}\n      \
         key_file: {key}\n    basic_auth:\n      username: prometheus\n      password: s3cret\n    \
         static_configs:\n      - targets: ['{web}']"
    );
    let prometheus = Prometheus::start(&job);
    assert_eq!(prometheus.value("up"), "1", "{}", prometheus.target());
    assert_eq!(prometheus.value("hb_received_total"), "0");
}

/// SIGHUP reads the file again: new users count from then on; a file
/// that cannot be used keeps the old configuration, said on stderr and in
/// the `reloaded` line.
#[test]
fn sighup_reads_the_web_config_again_and_keeps_it_when_broken() {
    if !tools_installed(
        test_name!(),
        &[("openssl", "version"), ("curl", "--version")],
    ) {
        return;
    }
    let dir = TempDir::new();
    let config = dir.file("web.yml", &users(&[("alice", "a-pass")]));
    let config = config.to_str().unwrap();
    let (mut listen, _, web) = listener_with_web(&["--web-config", config]);
    let url = format!("http://{web}/metrics");
    assert_eq!(curl(&url, &["-u", "alice:a-pass"]), 200);
    assert_eq!(curl(&url, &[]), 401);

    dir.file("web.yml", &users(&[("bob", "b-pass")]));
    listen.signal("HUP");
    let reloaded = listen.expect("reloaded", |_| true);
    assert_eq!(reloaded["web"], "reloaded", "{reloaded}");
    assert_eq!(curl(&url, &["-u", "alice:a-pass"]), 401);
    assert_eq!(curl(&url, &["-u", "bob:b-pass"]), 200);

    dir.file("web.yml", "basic_auth_users:\n  bob: not-a-hash\n");
    listen.signal("HUP");
    let reloaded = listen.expect("reloaded", |_| true);
    assert_eq!(reloaded["web"], "failed", "{reloaded}");
    assert!(listen
        .stderr_address("reload: ")
        .contains("bob: not a bcrypt hash"));
    assert_eq!(curl(&url, &["-u", "bob:b-pass"]), 200);
}

#[test]
fn a_web_config_that_cannot_be_used_is_a_usage_error_naming_the_field() {
    let dir = TempDir::new();
    let cases = [
        ("tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n", "min_version"),
        ("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAnyClientCert\n", "client_auth_type"),
        ("basic_auth_users:\n  alice: plain\n", "alice"),
        ("http_server_config:\n  http2: true\n", "http_server_config"),
    ];
    for (yaml, field) in cases {
        let path = dir.file("web.yml", yaml);
        let out = cmd("hb-listen")
            .args([
                "--listen",
                "127.0.0.1:0",
                "--metrics",
                "127.0.0.1:0",
                "--web-config",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--web-config") && stderr.contains(field),
            "{stderr}"
        );
    }
    let out = cmd("hb-listen")
        .args(["--web-config", "x.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics"));
}
