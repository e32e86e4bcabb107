//! The listener's status page in a real browser: Debian's headless
//! chromium, driven through chromedriver, against the real hb-listen fed
//! by real senders. What a person sees: a row and a count per node, a
//! death shown live without a reload, hostile names shown as the text
//! they are, the filters and the sort at work, a lost stream said, and
//! "live" said only once the page holds the listener's status.

use std::process::Command;
use std::time::Instant;

use serde_json::json;

use crate::harness::{beat, bin, send_raw, test_name, Browser, Running, BACKSPACE};
use crate::metrics::metrics_address;
use crate::web::listener_with_web;

/// A node name that is markup: run as script wherever the page would
/// parse a name as HTML. hb takes it (a name may hold any visible
/// character); it comes to the page in the event stream.
const EVIL: &str = "evil<img src=x onerror=alert(1)>";

/// Another, which comes to the page in the status snapshot it loads
/// first; its entity must stay five characters.
const EVIL_SNAPSHOT: &str = "<svg/onload=alert(2)>&amp;";

/// Nodes enough that their rows do not all fit in the window.
const BULK: usize = 300;

/// The names of the rows drawn, top to bottom as a person sees them: the
/// rows are placed by a transform, not in the order of the document.
const ROWS: &str = "return [...document.querySelectorAll('#sp [data-node]')]
    .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
    .map(r => r.dataset.node)";

/// The drawn row of the node `arguments[0]`, or null.
const ROW: &str = "const row = [...document.querySelectorAll('#sp [data-node]')]
    .find(r => r.dataset.node === arguments[0]);";

#[test]
fn the_status_page_shows_the_fleet_live_in_a_real_browser() {
    let Some(browser) = Browser::start(test_name!()) else {
        return;
    };
    let started = Instant::now();
    let (mut listen, addr, web) = listener_with_web(&[]);
    let to = addr.to_string();
    let sender = |node: &str| {
        Running::spawn(
            "hb-send",
            &["--node", node, "--every", "200ms", "--to", &to],
        )
    };
    let _web_1 = sender("web-1");
    let db_1 = sender("db-1");
    send_raw(addr, &beat("web-2", "b", 1, 60_000));
    send_raw(addr, &beat(EVIL_SNAPSHOT, "b", 1, 60_000));
    for node in ["web-1", "db-1", "web-2", EVIL_SNAPSHOT] {
        if listen.seen_of("up", node).is_empty() {
            listen.expect("up", |v| v["node"] == node);
        }
    }

    let js = |script: &str| browser.js(script, &[]);
    let row_state = |node: &str| {
        let script = format!("{ROW} return row ? row.dataset.state : null");
        browser.js(&script, &[json!(node)])
    };
    // A state's count, as its button holds it and as it shows it.
    let count = |state: &str| {
        let script = "const b = document.querySelector(`#counts [data-s=${arguments[0]}]`);
            return b.dataset.count === b.lastChild.textContent ? b.dataset.count : [b.dataset.count, b.lastChild.textContent]";
        browser.js(script, &[json!(state)])
    };

    // The page loads, synced and live, its rows drawn from the snapshot.
    browser.goto(&format!("http://{web}/"));
    js("window.marker = 1");
    browser.wait_js(
        "the stream to be live",
        "return document.body.dataset.stream === 'live'",
        &[],
    );
    let first = js("return window.hbFirstRender ?? null");
    assert!(
        first.as_f64().is_some_and(|ms| ms > 0.0),
        "live, and no first render: {first}"
    );
    assert_eq!(row_state("web-1"), "up");
    assert_eq!(row_state("db-1"), "up");
    assert_eq!(count("up"), "4");
    assert_eq!(count("down"), "0");
    assert_eq!(js("return document.body.dataset.nodes"), "4");
    assert_eq!(js("return hb.size()"), 4);

    // Hostile names are text: in their rows, in the log of events, nowhere
    // an element, nowhere a script run.
    send_raw(addr, &beat(EVIL, "b", 1, 60_000));
    listen.expect("up", |v| v["node"] == EVIL);
    browser.wait_js(
        "the hostile name's row",
        &format!("{ROW} return row && row.dataset.state === 'up'"),
        &[json!(EVIL)],
    );
    browser.click(&browser.element("#log summary"));
    browser.wait_js(
        "the hostile name in the log of events",
        "return [...document.querySelectorAll('#ev li')].some(li => li.textContent.includes(arguments[0]))",
        &[json!(EVIL)],
    );
    for name in [EVIL, EVIL_SNAPSHOT] {
        let cell = browser.js(
            &format!(
                "{ROW} const n = row.querySelector('.n');
                return [n.textContent, n.title, n.children.length, row.dataset.node]"
            ),
            &[json!(name)],
        );
        assert_eq!(cell, json!([name, name, 0, name]), "{name}");
    }
    let markup = js(
        "return [...document.querySelectorAll('img, svg, [onerror], [onload]')]
        .map(e => e.outerHTML)",
    );
    assert_eq!(markup, json!([]), "a name became markup");
    match browser.alert_text() {
        Err(e) => assert_eq!(e.error, "no such alert", "{e}"),
        Ok(text) => panic!("a name ran as script: an alert says {text:?}"),
    }

    // A sender killed: its row goes down in place, the page never reloaded.
    db_1.signal("KILL");
    browser.wait_js("db-1 down", "return hb.state('db-1') === 'down'", &[]);
    assert_eq!(row_state("db-1"), "down");
    assert_eq!(js("return window.marker ?? null"), 1, "the page reloaded");
    assert_eq!(count("down"), "1");
    assert_eq!(count("up"), "4");
    assert_eq!(count("suspect"), "0");

    // Worst first (the default sort, by state).
    let rows = js(ROWS);
    assert_eq!(rows[0], "db-1", "{rows}");
    assert_eq!(rows.as_array().unwrap().len(), 5, "{rows}");

    // The name filter, typed in, and cleared with backspaces.
    let q = browser.element("#q");
    browser.type_into(&q, "web");
    browser.wait_js(
        "only the web nodes shown",
        "return document.body.dataset.shown === '2'",
        &[],
    );
    assert_eq!(js(ROWS), json!(["web-1", "web-2"]));
    assert_eq!(
        js("return [hb.shown(), location.hash]"),
        json!([2, "#q=web"])
    );
    browser.type_into(&q, &BACKSPACE.to_string().repeat(3));
    browser.wait_js(
        "every node shown again",
        "return document.body.dataset.shown === '5'",
        &[],
    );

    // A state's count, clicked, filters by that state; clicked again, not.
    let down = browser.element("#counts [data-s=down]");
    browser.click(&down);
    assert_eq!(js(ROWS), json!(["db-1"]));
    let pressed =
        "return document.querySelector('#counts [data-s=down]').getAttribute('aria-pressed')";
    assert_eq!(js(pressed), "true");
    browser.click(&down);
    assert_eq!(js(ROWS).as_array().unwrap().len(), 5);
    assert_eq!(js(pressed), "false");

    // Sort by name, and again the other way.
    let mut names = vec!["web-1", "web-2", "db-1", EVIL, EVIL_SNAPSHOT];
    names.sort();
    let by_name = browser.element("#head [data-sort=name]");
    let sorted =
        "return document.querySelector('#head [data-sort=name]').getAttribute('aria-sort')";
    browser.click(&by_name);
    assert_eq!(js(ROWS), json!(names));
    assert_eq!(js(sorted), "ascending");
    browser.click(&by_name);
    names.reverse();
    assert_eq!(js(ROWS), json!(names));
    assert_eq!(js(sorted), "descending");

    // A fleet larger than the window: only the rows in view exist, and
    // hb.show brings a node's row into view.
    for i in 0..BULK {
        send_raw(addr, &beat(&format!("bulk-{i:03}"), "b", 1, 60_000));
    }
    browser.wait_js(
        "every node on the page",
        &format!("return hb.size() === {}", BULK + 5),
        &[],
    );
    let drawn = js("return document.querySelectorAll('#sp [data-node]').length");
    assert!(
        drawn.as_u64().is_some_and(|n| (10..100).contains(&n)),
        "{drawn} rows drawn for {} nodes",
        BULK + 5
    );
    let far = format!("bulk-{:03}", BULK / 2);
    assert_eq!(
        browser.js("return hb.show(arguments[0])", &[json!(far)]),
        true
    );
    let in_view = browser.js(
        &format!(
            "{ROW} const v = document.getElementById('vp').getBoundingClientRect();
            const r = row && row.getBoundingClientRect();
            return !!r && r.top >= v.top && r.bottom <= v.bottom"
        ),
        &[json!(far)],
    );
    assert_eq!(in_view, true, "{far} is not in view after hb.show");

    let errors = browser.console_errors();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");

    // The listener gone: the page says so, keeps what it knew, and was
    // never reloaded.
    listen.signal("KILL");
    browser.wait_js(
        "the stream to be lost",
        "return document.body.dataset.stream === 'lost'",
        &[],
    );
    let banner = js("const b = document.getElementById('banner');
        return [b.hidden, getComputedStyle(b).display !== 'none' && b.offsetHeight > 0, b.textContent]");
    assert_eq!(banner[0], false, "{banner}");
    assert_eq!(banner[1], true, "the banner is not visible: {banner}");
    assert_eq!(
        js("return [window.marker ?? null, hb.size(), hb.state('web-1')]"),
        json!([1, BULK + 5, "up"])
    );

    // A new listener in its place: the page reconnects by itself, takes
    // the new listener's table (only the sender still beating is in it),
    // and hides the banner.
    let _successor = Running::bound_again("hb-listen", &to, &["--metrics", &web]);
    browser.wait_js(
        "the stream to be live again",
        "return document.body.dataset.stream === 'live'",
        &[],
    );
    browser.wait_js(
        "web-1 up, alone, in the new listener's table",
        "return hb.state('web-1') === 'up' && hb.size() === 1",
        &[],
    );
    assert_eq!(
        js("return [document.getElementById('banner').hidden, window.marker ?? null]"),
        json!([true, 1])
    );
    eprintln!("{}: {:?}", test_name!(), started.elapsed());
}

/// "live" is connected and synced: while the listener cannot give its
/// status (its loop stalled, here on a stdout nobody reads, so /status
/// answers 503), the page connected to the stream says it is not live;
/// once the listener gives it, the page syncs by itself and is.
#[test]
fn a_page_without_the_status_is_not_live_until_it_has_it() {
    let Some(browser) = Browser::start(test_name!()) else {
        return;
    };
    let started = Instant::now();
    let mut cmd = Command::new(bin("hb-listen"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        "--beats",
    ]);
    let (listen, mut stdout) = Running::start_raw(cmd, "hb-listen");
    let web = metrics_address(&listen);
    let addr = listen.listening();
    // A `beat` line each, far more than a pipe holds: the loop stalls.
    for seq in 1..=2000 {
        send_raw(addr, &beat("flood", "b", seq, 60_000));
    }
    browser.goto(&format!("http://{web}/"));
    browser.wait_js(
        "the page to be told the status is not ready",
        "return document.getElementById('meta').textContent === 'status: HTTP 503'",
        &[],
    );
    let state = browser.js(
        "return [document.body.dataset.stream, document.getElementById('banner').hidden, hb.size()]",
        &[],
    );
    assert_eq!(
        state,
        json!(["connecting", true, 0]),
        "live without the status"
    );

    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    browser.wait_js(
        "the page live, synced",
        "return document.body.dataset.stream === 'live' && hb.state('flood') === 'up'",
        &[],
    );
    eprintln!("{}: {:?}", test_name!(), started.elapsed());
}
