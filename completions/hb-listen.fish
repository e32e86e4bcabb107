complete -c hb-listen -l listen -d 'Address to receive heartbeats on (IPv6 too: [::]:26722; port 0 picks a free one)' -r
complete -c hb-listen -l misses -d 'Declare a node down after N of its own intervals of silence' -r
complete -c hb-listen -l every -d 'Interval assumed for beats that do not state theirs, and for expected nodes' -r
complete -c hb-listen -l expect -d 'A node that must exist: reported down if it never beats (repeatable)' -r
complete -c hb-listen -l expect-file -d 'Read expected nodes from FILE, one per line (\'#\' comments; \'-\' for stdin)' -r -F
complete -c hb-listen -l status-every -d 'Print a `status` membership snapshot every DURATION' -r
complete -c hb-listen -l beats -d 'Also print a `beat` event for every heartbeat received'
complete -c hb-listen -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hb-listen -s V -l version -d 'Print version'
