complete -c hb-listen -l listen -d 'Address to receive on (IPv6 too: [::]; port 0 picks a free one)' -r
complete -c hb-listen -l every -d 'Interval assumed for beats that do not state theirs, and for expected nodes (10ms to 7d)' -r
complete -c hb-listen -l expect -d 'A node that must exist: reported down if it never beats (repeatable)' -r
complete -c hb-listen -l expect-file -d 'Read expected nodes from FILE, one per line (\'#\' comments; \'-\' for stdin); read again on SIGHUP' -r -F
complete -c hb-listen -l status-every -d 'Print a `status` line every DURATION (10ms to 7d): what the tool received and refused (hb-listen: and its membership)' -r
complete -c hb-listen -l state -d 'Keep FILE (mode 0600) holding the membership snapshot (a `status` object), rewritten atomically when a node\'s state or checks changed (at most once per --state-every) or beats came (once their seqs are 10s old), and at stop; read back at start (a regular file only), so a restart forgets no node and takes no beat twice' -r -F
complete -c hb-listen -l state-every -d 'With --state: rewrite FILE at most this often, so a change (and a beat\'s seq, which a restart after a crash would otherwise accept again) is on disk within DURATION and learning a fleet costs a few writes' -r
complete -c hb-listen -l forget-after -d 'Forget a node down for DURATION: a `forgotten` line, and it is gone from status, the state file and metrics (0: never; expected nodes never are)' -r
complete -c hb-listen -l from -d 'Read beats as NDJSON lines from FILE (\'-\' for stdin) instead of a socket: what hb-ack and --beats print, or any recording' -r -F
complete -c hb-listen -l join -d 'Join multicast GROUP (IPv4 or IPv6; repeatable) to receive beats senders address to the group' -r
complete -c hb-listen -l peer -d 'Another observer of a quorum group (its hb-listen address; repeatable): up and down become group verdicts' -r
complete -c hb-listen -l observer -d 'With --peer: this observer\'s name in views and votes (default: the host name)' -r
complete -c hb-listen -l quorum -d 'With --peer: observers (self included) that must agree on up or down [default: a majority]' -r
complete -c hb-listen -l view-every -d 'With --peer: send this observer\'s view to its peers every DURATION (and at once on a change); a peer silent for 3 of them is unreachable' -r
complete -c hb-listen -l detector -d 'fixed: down after --misses intervals of silence; phi: the adaptive phi accrual detector' -r -f -a "fixed\t''
phi\t''"
complete -c hb-listen -l misses -d 'Fixed detector: down after N of a node\'s intervals of silence (hb-poll: N failed rounds) [default: 5]' -r
complete -c hb-listen -l phi-threshold -d 'Phi detector: down when phi reaches this' -r
complete -c hb-listen -l phi-suspect -d 'Phi detector: suspect when phi reaches this' -r
complete -c hb-listen -l min-std-dev -d 'Phi detector: floor of the inter-arrival standard deviation' -r
complete -c hb-listen -l acceptable-pause -d 'Phi detector: silence always tolerated on top of the mean interval' -r
complete -c hb-listen -l phi-window -d 'Phi detector: inter-arrival times remembered per node' -r
complete -c hb-listen -l up-after -d 'Flap damping: a down node needs N consecutive beats before it is up again' -r
complete -c hb-listen -l flap-changes -d 'Report `flapping` when a node changes between up and down more than K times within --flap-window (0: never)' -r
complete -c hb-listen -l flap-window -d 'The window of --flap-changes' -r
complete -c hb-listen -l false-down-chance -d 'The chance, per suspicion, of declaring a live node down because its probes went unanswered (`"cause":"no-answer"`), weighed by the loss measured on its path; 0: only --misses declares a silent node down' -r
complete -c hb-listen -l key-file -d 'Sign every message and accept only signed ones, with the keys in FILE (HMAC-SHA256; one key per line, the first signs, any verifies; mode 600); read again on SIGHUP' -r -F
complete -c hb-listen -l allow -d 'Accept messages only from this address range (repeatable: 10.0.0.0/8, 2001:db8::/32, 192.0.2.7) [default: from anywhere]' -r
complete -c hb-listen -l max-skew -d 'With --key-file: how far from this host\'s clock a sender\'s new boot may be (a restart; every hb-send --run and --away is one); beyond, refused as `skew`' -r
complete -c hb-listen -l max-nodes -d 'Nodes tracked at most; beats from new ones beyond are refused (too-many-nodes)' -r
complete -c hb-listen -l metrics -d 'Serve the web side on ADDR: Prometheus metrics on /metrics, and from hb-listen a live status page on /, the membership on /status and the events on /events (HOST alone: port 26724; port 0 picks a free one)' -r
complete -c hb-listen -l web-config -d 'TLS and basic auth for --metrics, from a file in the format of Prometheus\' exporters\' --web.config.file (tls_server_config, basic_auth_users); read again on SIGHUP' -r -F
complete -c hb-listen -l on -d 'Run CMD (with sh -c) on events of the comma list EVENTS (down,up,left,... or *): the event\'s line on its stdin, HB_EVENT, HB_NODE, HB_ADDR, HB_TS_MS in its environment; in the background, a node\'s events in order (repeatable)' -r
complete -c hb-listen -l on-jobs -d 'Hooks running at once at most; more wait in a queue (256 events, expected nodes\' ahead of others\'; beyond, events are dropped and a `hook-overflow` line says how many and whose)' -r
complete -c hb-listen -l on-timeout -d 'Kill a hook (and its process group) still running after DURATION, and report it in a `hook` line' -r
complete -c hb-listen -l remind-every -d 'Print a node that stays down again as `still-down` every DURATION (10ms to 7d), until it is up, left or forgotten; a job that stays failed or late, until it starts again' -r
complete -c hb-listen -l beats -d 'Also print a `beat` event for every heartbeat received'
complete -c hb-listen -l replay -d 'With --from: judge on the lines\' own ts_ms clock, so a recording replays in milliseconds with the events it would have given live'
complete -c hb-listen -l confirm -d 'Probe a suspect node whose beats say it answers (hb-send\'s do): an answer refutes the suspicion, a closed port (ICMP port unreachable) is `down` at once [default]'
complete -c hb-listen -l no-confirm -d 'Judge by silence alone: no probes, no early down'
complete -c hb-listen -l trust-unreachable -d 'With --key-file: let an ICMP port unreachable, which no key signs, declare a suspect node down before its deadline'
complete -c hb-listen -l log-rejects -d 'Print a `rejected` line for every refused message (at most 10 a second)'
complete -c hb-listen -l no-node-series -d 'Export the count of nodes in each state (hb_nodes) but no series per node: for a fleet so large that per-node series cost Prometheus too much (12 a node: 1.2 million at 100,000 nodes)'
complete -c hb-listen -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hb-listen -s V -l version -d 'Print version'
