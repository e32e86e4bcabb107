complete -c hb-poll -s H -l host -d 'Another target, as Nagios passes $HOSTADDRESS$ (repeatable)' -r
complete -c hb-poll -s f -l file -d 'Read targets from FILE, one per line (\'#\' comments; \'-\' for stdin); with --every, read again on SIGHUP' -r -F
complete -c hb-poll -s t -l timeout -d 'Wait this long for each attempt\'s reply (seconds, or 500ms, 2s) [default: 1s; with --every, at most the interval shared among the attempts, so that a round ends within it]' -r
complete -c hb-poll -l retries -d 'Probe a silent target this many more times before it is down' -r
complete -c hb-poll -l every -d 'Keep polling every DURATION (10ms to 7d) and print transitions' -r
complete -c hb-poll -l format -d 'Output: JSON lines, or one Nagios plugin line with perfdata' -r -f -a "json\t''
nagios\t''"
complete -c hb-poll -s w -l warning -d 'WARNING when the number of targets down is outside RANGE (Nagios syntax; quote ~:N in a shell)' -r
complete -c hb-poll -s c -l critical -d 'CRITICAL when the number down is outside RANGE (none when only -w is given)' -r
complete -c hb-poll -l rtt-warning -d 'WARNING when a reply\'s round trip (seconds) is outside RANGE' -r
complete -c hb-poll -l rtt-critical -d 'CRITICAL when a reply\'s round trip (seconds) is outside RANGE' -r
complete -c hb-poll -l cpu-warning -d 'WARNING when a reply\'s cpu_pct is outside RANGE' -r
complete -c hb-poll -l cpu-critical -d 'CRITICAL when a reply\'s cpu_pct is outside RANGE' -r
complete -c hb-poll -l mem-warning -d 'WARNING when a reply\'s memory in use (percent) is outside RANGE' -r
complete -c hb-poll -l mem-critical -d 'CRITICAL when a reply\'s memory in use (percent) is outside RANGE' -r
complete -c hb-poll -l via -d 'An hb-ack to ask to probe a target that does not answer directly (repeatable); the target is down only if no path answers' -r
complete -c hb-poll -l node -d 'Name this node in what it sends (default: the host name)' -r
complete -c hb-poll -l detector -d 'fixed: down after --misses intervals of silence; phi: the adaptive phi accrual detector' -r -f -a "fixed\t''
phi\t''"
complete -c hb-poll -l misses -d 'Fixed detector: down after N of a node\'s intervals of silence (hb-poll: N failed rounds) [default: 3]' -r
complete -c hb-poll -l phi-threshold -d 'Phi detector: down when phi reaches this' -r
complete -c hb-poll -l phi-suspect -d 'Phi detector: suspect when phi reaches this' -r
complete -c hb-poll -l min-std-dev -d 'Phi detector: floor of the inter-arrival standard deviation' -r
complete -c hb-poll -l acceptable-pause -d 'Phi detector: silence always tolerated on top of the mean interval' -r
complete -c hb-poll -l phi-window -d 'Phi detector: inter-arrival times remembered per node' -r
complete -c hb-poll -l up-after -d 'Flap damping: a down node needs N consecutive beats before it is up again' -r
complete -c hb-poll -l flap-changes -d 'Report `flapping` when a node changes between up and down more than K times within --flap-window (0: never)' -r
complete -c hb-poll -l flap-window -d 'The window of --flap-changes' -r
complete -c hb-poll -l key-file -d 'Sign every message and accept only signed ones, with the keys in FILE (HMAC-SHA256; one key per line, the first signs, any verifies; mode 600); read again on SIGHUP' -r -F
complete -c hb-poll -l metrics -d 'Serve the web side on ADDR: Prometheus metrics on /metrics, and from hb-listen a live status page on /, the membership on /status and the events on /events (HOST alone: port 26724; port 0 picks a free one)' -r
complete -c hb-poll -l web-config -d 'TLS and basic auth for --metrics, from a file in the format of Prometheus\' exporters\' --web.config.file (tls_server_config, basic_auth_users); read again on SIGHUP' -r -F
complete -c hb-poll -l on -d 'Run CMD (with sh -c) on events of the comma list EVENTS (down,up,left,... or *): the event\'s line on its stdin, HB_EVENT, HB_NODE, HB_ADDR, HB_TS_MS in its environment; in the background, a node\'s events in order (repeatable)' -r
complete -c hb-poll -l on-jobs -d 'Hooks running at once at most; more wait in a queue (256 events, expected nodes\' ahead of others\'; beyond, events are dropped and a `hook-overflow` line says how many and whose)' -r
complete -c hb-poll -l on-timeout -d 'Kill a hook (and its process group) still running after DURATION, and report it in a `hook` line' -r
complete -c hb-poll -l remind-every -d 'Print a node that stays down again as `still-down` every DURATION (10ms to 7d), until it is up, left or forgotten; a job that stays failed or late, until it starts again' -r
complete -c hb-poll -s v -l verbose -d 'With --every: also print each round\'s `poll` and `summary` lines'
complete -c hb-poll -l no-node-series -d 'Export the count of nodes in each state (hb_nodes) but no series per node: for a fleet so large that per-node series cost Prometheus too much (12 a node: 1.2 million at 100,000 nodes)'
complete -c hb-poll -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hb-poll -s V -l version -d 'Print version'
