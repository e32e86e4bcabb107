use super::*;
use crate::clock::Moment;

fn group(peers: usize) -> Group {
    group_of(peers, 1000)
}

/// A group where a peer may vote on `max_votes` nodes.
fn group_of(peers: usize, max_votes: usize) -> Group {
    Group::new(
        Config {
            observer: "me".into(),
            quorum: majority(peers + 1),
            peer_timeout: 300,
            max_votes,
        },
        peers,
    )
}

fn view<'a>(name: &'a str, up: &[&'a str], down: &[&'a str]) -> View<'a> {
    View {
        node: name.into(),
        seq: 1,
        boot: None,
        ts_ms: None,
        up: up.iter().map(|&n| n.into()).collect(),
        suspect: Vec::new(),
        down: down.iter().map(|&n| n.into()).collect(),
        left: Vec::new(),
        away: Vec::new(),
    }
}

fn local(state: State) -> Option<Local> {
    Some(Local {
        state,
        addr: None,
        silent_ms: 0,
        degraded: false,
    })
}

fn kinds(out: &[GroupEvent]) -> Vec<&'static str> {
    out.iter().map(GroupEvent::kind).collect()
}

#[test]
fn majorities() {
    assert_eq!(
        (
            majority(1),
            majority(2),
            majority(3),
            majority(4),
            majority(5)
        ),
        (1, 2, 2, 3, 3)
    );
}

#[test]
fn one_observer_alone_cannot_declare_down() {
    let mut g = group(2);
    let mut out = vec![];
    g.on_view(0, &view("p1", &["web"], &[]), Moment::new(0, 0), None)
        .unwrap();
    g.on_view(1, &view("p2", &["web"], &[]), Moment::new(0, 0), None)
        .unwrap();
    assert!(g.check_reachability(0, &mut out));
    g.judge("web", local(State::Up), 0, &mut out);
    assert_eq!(kinds(&out), ["quorum", "up"]);
    out.clear();
    // My link to web is bad; the others still see it up.
    g.judge("web", local(State::Down), 10, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // A second observer agrees: now it is down, with the votes.
    g.on_view(0, &view("p1", &[], &["web"]), Moment::new(20, 0), None)
        .unwrap();
    g.judge("web", local(State::Down), 20, &mut out);
    assert_eq!(kinds(&out), ["down"]);
    let GroupEvent::Down { votes, quorum, .. } = &out[0] else {
        panic!()
    };
    assert_eq!(*quorum, 2);
    assert_eq!(votes["me"], State::Down);
    assert_eq!(votes["p1"], State::Down);
    assert_eq!(votes["p2"], State::Up);
}

#[test]
fn a_silent_peer_is_unknown_not_a_vote_and_quorum_is_held() {
    let mut g = group(2);
    let mut out = vec![];
    g.on_view(0, &view("p1", &[], &["web"]), Moment::new(0, 0), None)
        .unwrap();
    g.on_view(1, &view("p2", &["web"], &[]), Moment::new(0, 0), None)
        .unwrap();
    g.check_reachability(0, &mut out);
    out.clear();
    // Both peers go silent; I alone see web down.
    g.check_reachability(301, &mut out);
    assert_eq!(kinds(&out), ["no-quorum"]);
    let GroupEvent::NoQuorum { reachable, .. } = &out[0] else {
        panic!()
    };
    assert_eq!(reachable, &["me"]);
    out.clear();
    g.judge("web", local(State::Down), 301, &mut out);
    assert!(out.is_empty(), "held without quorum: {out:?}");
    // One peer is back and agrees.
    g.on_view(0, &view("p1", &[], &["web"]), Moment::new(400, 0), None)
        .unwrap();
    assert!(g.check_reachability(400, &mut out));
    g.judge("web", local(State::Down), 400, &mut out);
    assert_eq!(kinds(&out), ["quorum", "down"]);
}

#[test]
fn stale_votes_do_not_count() {
    let mut g = group(2);
    let mut out = vec![];
    g.on_view(0, &view("p1", &[], &["web"]), Moment::new(0, 0), None)
        .unwrap();
    g.on_view(1, &view("p2", &[], &[]), Moment::new(0, 0), None)
        .unwrap();
    g.check_reachability(0, &mut out);
    // p1 keeps sending views, but web left them long ago.
    g.on_view(0, &view("p1", &[], &[]), Moment::new(350, 0), None)
        .unwrap();
    g.on_view(1, &view("p2", &[], &[]), Moment::new(350, 0), None)
        .unwrap();
    g.judge("web", local(State::Down), 350, &mut out);
    assert_eq!(kinds(&out), ["quorum"], "{out:?}");
}

#[test]
fn pending_is_no_vote_and_suspect_is_neither_up_nor_down() {
    let mut g = group(2);
    let mut out = vec![];
    let mut v = view("p1", &[], &[]);
    v.suspect.push("web".into());
    g.on_view(0, &v, Moment::new(0, 0), None).unwrap();
    g.on_view(1, &view("p2", &["web"], &[]), Moment::new(0, 0), None)
        .unwrap();
    g.check_reachability(0, &mut out);
    out.clear();
    g.judge("web", local(State::Pending), 0, &mut out);
    assert!(out.is_empty());
    g.judge("web", local(State::Up), 0, &mut out);
    assert_eq!(kinds(&out), ["up"]);
}

#[test]
fn a_group_of_one_decides_alone() {
    let mut g = group(0);
    let mut out = vec![];
    g.judge("web", local(State::Down), 0, &mut out);
    assert_eq!(kinds(&out), ["down"]);
    assert_eq!(g.next_deadline(), None);
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn view_of<'a>(name: &'a str, up: &'a [String]) -> View<'a> {
    View {
        up: up.iter().map(|n| n.as_str().into()).collect(),
        ..view(name, &[], &[])
    }
}

/// A peer cannot make this observer remember more than `max_votes`
/// nodes: names beyond are ignored (not re-judged, no vote), while
/// nodes it already votes on still change.
#[test]
fn a_peer_votes_on_max_votes_nodes_at_most() {
    let mut g = group_of(1, 3);
    let many = names("n", 10);
    let v = view_of("p1", &many);
    let carried = g.on_view(0, &v, Moment::new(0, 0), None).unwrap();
    assert_eq!(carried, ["n0", "n1", "n2"]);
    assert_eq!(g.peers[0].votes.len(), 3);
    let mut out = vec![];
    g.check_reachability(0, &mut out);
    out.clear();
    // quorum 2: my vote alone is not enough, the peer's does not count.
    g.judge("n5", local(State::Up), 0, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // A known node's vote still changes at the limit.
    let v = view("p1", &["n9"], &["n0"]);
    let carried = g.on_view(0, &v, Moment::new(10, 0), None).unwrap();
    assert_eq!(carried, ["n0"]);
    assert_eq!(g.peers[0].votes.len(), 3);
    assert_eq!(g.peers[0].votes["n0"], (ViewState::Down, 10));
    // Once its old votes are stale, a full table frees up: the peer's
    // new nodes are heard.
    let renamed = names("m", 3);
    let v = view_of("p1", &renamed);
    let carried = g.on_view(0, &v, Moment::new(311, 0), None).unwrap();
    assert_eq!(carried, ["m0", "m1", "m2"]);
    assert!(g.peers[0].votes.keys().all(|n| n.starts_with('m')));
}

/// Votes nobody repeated for a peer timeout are dropped: a peer
/// renaming its nodes does not pile up votes up to `max_votes`.
#[test]
fn votes_not_repeated_for_a_peer_timeout_are_dropped() {
    let mut g = group_of(1, 100_000);
    let old = names("old", 1000);
    g.on_view(0, &view_of("p1", &old), Moment::new(0, 0), None)
        .unwrap();
    assert_eq!(g.peers[0].votes.len(), 1000);
    // The peer renames them all, 1 ms past their timeout: the old
    // 1000 go.
    let new = names("new", 25);
    g.on_view(0, &view_of("p1", &new), Moment::new(301, 0), None)
        .unwrap();
    assert_eq!(g.peers[0].votes.len(), 25);
    assert!(g.peers[0].votes.keys().all(|n| n.starts_with("new")));
}

/// A peer that went silent is counted unreachable once; after that its
/// old deadline is not the group's next deadline any more (which would
/// be in the past and wake the listener at once, again and again).
#[test]
fn a_gone_peer_does_not_keep_the_deadline_in_the_past() {
    let mut g = group(2);
    let mut out = vec![];
    g.on_view(0, &view("p1", &[], &[]), Moment::new(0, 0), None)
        .unwrap();
    g.on_view(1, &view("p2", &[], &[]), Moment::new(200, 0), None)
        .unwrap();
    g.check_reachability(200, &mut out);
    // p1 unreachable at 301 (timeout 300), p2 at 501.
    assert_eq!(g.next_deadline(), Some(301));
    g.check_reachability(301, &mut out);
    assert_eq!(g.reachable(301), ["me", "p2"]);
    assert_eq!(g.next_deadline(), Some(501));
    g.check_reachability(501, &mut out);
    assert_eq!(kinds(&out), ["quorum", "no-quorum"]);
    assert_eq!(g.next_deadline(), None, "both peers gone: nothing due");
    // Still none while they stay gone.
    g.check_reachability(10_000, &mut out);
    assert_eq!(g.next_deadline(), None);
    // A peer back: its deadline is in the future again.
    g.on_view(0, &view("p1", &[], &[]), Moment::new(10_100, 0), None)
        .unwrap();
    g.check_reachability(10_100, &mut out);
    assert_eq!(g.next_deadline(), Some(10_401));
}

/// A node that left is no down vote, and its return is a verdict again.
#[test]
fn a_left_node_is_no_vote_and_its_return_is_printed() {
    let mut g = group(1);
    let mut out = vec![];
    g.on_view(0, &view("p1", &["web"], &[]), Moment::new(0, 0), None)
        .unwrap();
    g.check_reachability(0, &mut out);
    g.judge("web", local(State::Up), 0, &mut out);
    assert_eq!(kinds(&out), ["quorum", "up"]);
    out.clear();
    // It leaves: views leave it out, so the peer's vote ages away, and
    // this observer's own state counts neither up nor down.
    g.forget_verdict("web");
    g.on_view(0, &view("p1", &[], &[]), Moment::new(400, 0), None)
        .unwrap();
    g.judge("web", local(State::Left), 400, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // Back: up again, printed although the last verdict was up.
    g.on_view(0, &view("p1", &["web"], &[]), Moment::new(500, 0), None)
        .unwrap();
    g.judge("web", local(State::Up), 500, &mut out);
    assert_eq!(kinds(&out), ["up"]);
}

/// A peer that saw the node leave shares it, and that is no vote for
/// down: this observer, which missed the leave and judged the silence,
/// cannot declare it down with it.
#[test]
fn a_node_a_peer_saw_leave_is_no_vote_for_down() {
    let mut g = group(2);
    let mut out = vec![];
    let left = View {
        left: vec!["web".into()],
        ..view("p1", &[], &[])
    };
    g.on_view(0, &left, Moment::new(0, 0), None).unwrap();
    let away = View {
        away: vec!["web".into()],
        ..view("p2", &[], &[])
    };
    g.on_view(1, &away, Moment::new(0, 0), None).unwrap();
    assert_eq!(g.peers[0].votes["web"], (ViewState::Left, 0));
    assert_eq!(g.peers[1].votes["web"], (ViewState::Away, 0));
    assert!(g.check_reachability(0, &mut out));
    out.clear();
    g.judge("web", local(State::Down), 10, &mut out);
    assert!(out.is_empty(), "{out:?}");
}
