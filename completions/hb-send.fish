complete -c hb-send -l to -d 'Send each beat to HOST[:PORT] (repeatable; default port 26722, or 26723 with --ack)' -r
complete -c hb-send -l node -d 'Name this node in what it sends (default: the host name; given twice, the last wins)' -r
complete -c hb-send -l every -d 'Interval between beats (10ms to 7d); listeners learn it from the beats. With --run, --cron or --grace: the job\'s interval, stated as its next due time [default: 1s]' -r
complete -c hb-send -l count -d 'Send N beats, then exit; without --ack, give --every or --cron, which the last beat states as when the next is due (exit 1 if a beat could not be sent: the system refused it at every address of a target)' -r
complete -c hb-send -l misses -d 'With --ack: a target is down after N unacknowledged beats in a row' -r
complete -c hb-send -s t -l timeout -d 'With --ack: how long an ack may take [default: the --every interval]' -r
complete -c hb-send -l away -d 'Announce a planned absence of DURATION (1s to 7d) to every target, then exit: listeners mute the node until then, and say `down` if it has not beaten again by then. With a key, listeners believe it only if this host\'s clock is within their --max-skew (30s by default)' -r
complete -c hb-send -l reason -d 'With --away: why, shown in the listeners\' `away` line and status (at most 200 bytes)' -r
complete -c hb-send -l key-file -d 'Sign every message and accept only signed ones, with the keys in FILE (HMAC-SHA256; one key per line, the first signs, any verifies; mode 600); read again on SIGHUP' -r -F
complete -c hb-send -l check -d 'Run CMD (through sh -c; any Nagios plugin works) and carry its status and first output line; NAME=CMD names it, else it is named after its plugin\'s file name, or checkN (its place) for shell code (repeatable)' -r
complete -c hb-send -l check-every -d 'How often the checks run (10ms to 7d; in the background, the first round before the first beat)' -r
complete -c hb-send -l check-timeout -d 'A check still running after this is killed and unknown' -r
complete -c hb-send -l on -d 'Run CMD (with sh -c) on events of the comma list EVENTS (down,up,left,... or *): the event\'s line on its stdin, HB_EVENT, HB_NODE, HB_ADDR, HB_TS_MS in its environment; in the background, a node\'s events in order (repeatable)' -r
complete -c hb-send -l on-jobs -d 'Hooks running at once at most; more wait in a queue (256 events, expected nodes\' ahead of others\'; beyond, events are dropped and a `hook-overflow` line says how many and whose)' -r
complete -c hb-send -l on-timeout -d 'Kill a hook (and its process group) still running after DURATION, and report it in a `hook` line' -r
complete -c hb-send -l remind-every -d 'Print a node that stays down again as `still-down` every DURATION (10ms to 7d), until it is up, left or forgotten; a job that stays failed or late, until it starts again' -r
complete -c hb-send -l cron -d 'The job\'s schedule, a cron expression (5 fields, or @hourly, @daily, @weekly, @monthly, @yearly): every message states when the next run is due; with --run, --once or --count' -r
complete -c hb-send -l tz -d 'The time zone --cron is read in, an IANA name (Europe/Berlin, UTC) [default: the host\'s]' -r
complete -c hb-send -l grace -d 'How long after its due time a job may come before it is `late` (0 to 7d) [default: 1h with --cron, else the --every interval]; with --run, --once or --count' -r
complete -c hb-send -l max-run -d 'With --run: how long a run may take before it is `running-long` (10ms to 7d) [default: until the next due time]' -r
complete -c hb-send -l once -d 'Send one beat and exit: --count 1'
complete -c hb-send -l broadcast -d 'Allow --to broadcast addresses (255.255.255.255, a subnet\'s broadcast); multicast groups need nothing'
complete -c hb-send -l health -d 'Carry health in each beat: CPU (over the interval), memory, swap, load, uptime'
complete -c hb-send -s v -l verbose -d 'Print a `sent` event for every beat (and with --ack an `ack` event for every ack)'
complete -c hb-send -l ack -d 'Ask each target (hb-ack) to acknowledge every beat; print `down` for a target after --misses unacknowledged beats, `up` when acks return'
complete -c hb-send -l no-leave -d 'Do not say `leave` when stopped (SIGTERM, Ctrl-C): listeners then judge the silence, `down` after their misses'
complete -c hb-send -l run -d 'Run CMD as a job: say `start`, run it, say `done` with its exit code (or signal), duration and last line of stderr; exit with its exit code (128+N for signal N). With a key, listeners believe a run only if this host\'s clock is within their --max-skew (30s by default)'
complete -c hb-send -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hb-send -s V -l version -d 'Print version'
