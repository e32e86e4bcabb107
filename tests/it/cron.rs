//! Every crontab line of the docs runs as written in a user's crontab.
//! Cron runs the command part of a line with `sh -c`, in an environment of
//! its own (`PATH=/usr/bin:/bin`, `SHELL=/bin/sh`, `HOME`, nothing of the
//! user's shell), and mails what it prints. Each line is read from the
//! documents (README.md, docs/*.md), its schedule parsed, and its command
//! run so in a network namespace whose hosts file says where `monitor` and
//! the fleet are, with the files it names mapped to the test's own: the
//! tools in /usr/bin (where the package puts them) to the ones built, the
//! job, the fleet file and the output file to a temporary directory. Each
//! line must have an expectation below, which says what it must do.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::{bin, test_name, Netns, TempDir};
use crate::samples::assert_due_at_three_in_berlin;

/// The tools: a crontab line names them by their path, as cron's PATH
/// holds only what the system put in /usr/bin and /bin.
const TOOLS: [&str; 4] = ["hb-send", "hb-listen", "hb-ack", "hb-poll"];

/// One crontab line as a document gives it.
#[derive(Debug)]
struct CronLine {
    /// Where it is, for messages.
    place: String,
    /// Its five time fields, or an `@` name.
    schedule: String,
    /// What cron gives `sh -c`.
    command: String,
}

/// The schedule and the command of `line` if it is a crontab entry: five
/// time fields (minute and hour in digits, `*`, `/`, `,` and `-`; the
/// others may also name months and days) or an `@` name, then a command.
fn entry(line: &str) -> Option<(String, String)> {
    let field = |f: &str, names: bool| {
        !f.is_empty()
            && f.chars().all(|c| {
                c.is_ascii_digit() || "*/,-".contains(c) || names && c.is_ascii_alphabetic()
            })
    };
    if line.starts_with('@') {
        let (name, command) = line.split_once(' ')?;
        return Some((name.to_owned(), command.trim().to_owned()));
    }
    let words: Vec<&str> = line.splitn(6, ' ').collect();
    let [minute, hour, day, month, weekday, command] = words[..] else {
        return None;
    };
    let is_entry = field(minute, false)
        && field(hour, false)
        && [day, month, weekday].iter().all(|f| field(f, true));
    is_entry.then(|| (words[..5].join(" "), command.trim().to_owned()))
}

/// Every crontab line in the code blocks of README.md and docs/*.md.
fn cron_lines() -> Vec<CronLine> {
    let mut documents = vec![PathBuf::from("README.md")];
    for file in std::fs::read_dir("docs").unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            documents.push(path);
        }
    }
    let mut lines = Vec::new();
    for doc in documents {
        let text = std::fs::read_to_string(&doc).unwrap();
        let mut in_block = false;
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("```") {
                in_block = !in_block;
            } else if let Some((schedule, command)) = in_block.then(|| entry(line)).flatten() {
                lines.push(CronLine {
                    place: format!("{}:{}", doc.display(), n + 1),
                    schedule,
                    command,
                });
            }
        }
    }
    lines
}

/// Exit code, stdout and stderr of a finished command.
fn said(out: &Output) -> (Option<i32>, String, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Nothing printed, nothing for cron to mail, and exit code 0.
fn quiet(place: &str, out: &Output) {
    assert_eq!(
        said(out),
        (Some(0), String::new(), String::new()),
        "{place}"
    );
}

#[test]
fn crontab_lines_are_read_as_cron_reads_them() {
    let line = "0 3 * * * /usr/bin/hb-send --cron '0 3 * * *' -- x";
    let (schedule, command) = entry(line).unwrap();
    assert_eq!(schedule, "0 3 * * *");
    assert_eq!(command, "/usr/bin/hb-send --cron '0 3 * * *' -- x");
    assert_eq!(entry("*/5 * * * MON x").unwrap().0, "*/5 * * * MON");
    assert_eq!(entry("@daily x").unwrap(), ("@daily".into(), "x".into()));
    for not_one in [
        "hb-send --node a b c d",
        "# 0 3 * * * x",
        "0 3 * * *",
        "  a",
    ] {
        assert_eq!(entry(not_one), None, "{not_one}");
    }
}

#[test]
fn every_crontab_line_of_the_docs_runs_under_cron() {
    let lines = cron_lines();
    assert!(lines.len() >= 3, "crontab lines not found: {lines:?}");
    for line in &lines {
        let place = &line.place;
        if let Err(e) = hb::schedule::parse_cron(&line.schedule) {
            panic!("{place}: {}: {e}", line.schedule);
        }
        for tool in TOOLS {
            let bare = line
                .command
                .match_indices(tool)
                .any(|(at, _)| !line.command[..at].ends_with('/'));
            assert!(
                !bare,
                "{place}: {tool} by its bare name, which cron's PATH (/usr/bin:/bin) may not have: name it by its path (/usr/bin/{tool})"
            );
        }
    }
    let Some(ns) = Netns::plain(test_name!()) else {
        return;
    };
    // `monitor` runs the listener and a responder, which is also the
    // fleet's web-1; nothing answers at web-2.
    ns.hosts("127.0.0.1 localhost monitor web-1\n127.0.0.2 web-2\n");
    let mut listener = ns.bound("hb-listen", "127.0.0.1:26722", &[]);
    let responder = || ns.bound("hb-ack", "127.0.0.1:26723", &["--node", "web-1"]);
    let mut ack = Some(responder());

    let dir = TempDir::new();
    let job = dir.file("backup", "#!/bin/sh\necho 'backup: 12 files'\n");
    std::fs::set_permissions(&job, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fleet = dir.file("fleet.txt", "web-1\n");
    let tools = bin("hb-send").parent().unwrap().display().to_string();
    let files = [
        ("/usr/bin/hb-".to_owned(), format!("{tools}/hb-")),
        ("/usr/local/bin/backup".into(), job.display().to_string()),
        ("/etc/hb/fleet.txt".into(), fleet.display().to_string()),
        (
            "/tmp/hb-poll.last".into(),
            dir.path().join("hb-poll.last").display().to_string(),
        ),
    ];
    let home = format!("HOME={}", dir.path().display());
    let cron_env = ["-i", "PATH=/usr/bin:/bin", "SHELL=/bin/sh", &home];
    for line in &lines {
        let place = line.place.as_str();
        let command = files
            .iter()
            .fold(line.command.clone(), |c, (doc, test)| c.replace(doc, test));
        let run = || -> Output {
            ns.command(Path::new("/usr/bin/env"))
                .args(cron_env)
                .args(["sh", "-c", &command])
                .output()
                .unwrap()
        };
        let has = |flag: &str| line.command.split(' ').any(|w| w == flag);
        if has("--run") {
            // The job's output is its own, for cron to mail; hb-send adds
            // nothing, and the listener hears how the run went.
            let out = run();
            assert_eq!(
                said(&out),
                (Some(0), "backup: 12 files\n".into(), String::new()),
                "{place}"
            );
            let started = listener.expect("started", |v| v["node"] == "backup");
            assert_due_at_three_in_berlin(&started);
            listener.expect("ok", |v| v["node"] == "backup");
        } else if has("--ack") {
            // Acked: nothing to mail. Not acked: the complaint.
            quiet(place, &run());
            drop(ack.take());
            let (code, stdout, stderr) = said(&run());
            assert_eq!(
                (code, stdout.as_str()),
                (Some(0), "monitor did not ack\n"),
                "{place}: {stderr}"
            );
            ack = Some(responder());
        } else if line.command.contains("/usr/bin/hb-poll") {
            // A round where all is well mails nothing; one with a host
            // down mails the plugin line.
            quiet(place, &run());
            std::fs::write(&fleet, "web-1\nweb-2\n").unwrap();
            let (code, stdout, stderr) = said(&run());
            assert_eq!((code, stderr.as_str()), (Some(0), ""), "{place}");
            assert!(
                stdout.starts_with("HB CRITICAL - 1/2 up: web-2 down")
                    && stdout.lines().count() == 1,
                "{place}: {stdout}"
            );
        } else {
            panic!("{place}: no expectation for the crontab line {line:?}: add one here");
        }
    }
}
