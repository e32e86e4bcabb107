complete -c hb-ack -l listen -d 'Address to receive on (IPv6 too: [::]; port 0 picks a free one)' -r
complete -c hb-ack -l node -d 'Name this node in what it sends (default: the host name)' -r
complete -c hb-ack -l status-every -d 'Print a `status` line every DURATION (10ms to 7d): what the tool received and refused (hb-listen: and its membership)' -r
complete -c hb-ack -l metrics -d 'Serve the web side on ADDR: Prometheus metrics on /metrics, and from hb-listen a live status page on /, the membership on /status and the events on /events (HOST alone: port 26724; port 0 picks a free one)' -r
complete -c hb-ack -l web-config -d 'TLS and basic auth for --metrics, from a file in the format of Prometheus\' exporters\' --web.config.file (tls_server_config, basic_auth_users); read again on SIGHUP' -r -F
complete -c hb-ack -l key-file -d 'Sign every message and accept only signed ones, with the keys in FILE (HMAC-SHA256; one key per line, the first signs, any verifies; mode 600); read again on SIGHUP' -r -F
complete -c hb-ack -l check -d 'Run CMD (through sh -c; any Nagios plugin works) and carry its status and first output line; NAME=CMD names it, else it is named after its plugin\'s file name, or checkN (its place) for shell code (repeatable)' -r
complete -c hb-ack -l check-every -d 'How often the checks run (10ms to 7d; in the background, the first round before the first beat)' -r
complete -c hb-ack -l check-timeout -d 'A check still running after this is killed and unknown' -r
complete -c hb-ack -l allow -d 'Accept messages only from this address range (repeatable: 10.0.0.0/8, 2001:db8::/32, 192.0.2.7) [default: from anywhere]' -r
complete -c hb-ack -l max-skew -d 'With --key-file: how far from this host\'s clock a sender\'s new boot may be (a restart; every hb-send --run and --away is one); beyond, refused as `skew`' -r
complete -c hb-ack -l max-nodes -d 'Nodes tracked at most; beats from new ones beyond are refused (too-many-nodes)' -r
complete -c hb-ack -l haproxy-agent -d 'Answer HAProxy\'s agent check on TCP ADDR with this node\'s health: `drain` while a --check is critical, else `ready up N%`, N from the idle CPU (at least 10%), halved while a check warns (HOST alone: port 26725)' -r
complete -c hb-ack -l no-health -d 'Leave health out of replies'
complete -c hb-ack -s v -l verbose -d 'Also print a line for every probe answered'
complete -c hb-ack -s q -l quiet -d 'Print nothing on stdout (but --status-every, --log-rejects and `reloaded` lines)'
complete -c hb-ack -l log-rejects -d 'Print a `rejected` line for every refused message (at most 10 a second)'
complete -c hb-ack -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hb-ack -s V -l version -d 'Print version'
