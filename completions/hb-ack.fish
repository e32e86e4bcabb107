complete -c hb-ack -l listen -d 'Address to answer on (IPv6 too: [::]:26723; port 0 picks a free one)' -r
complete -c hb-ack -l node -d 'Name this node in replies and acks (default: the host name)' -r
complete -c hb-ack -l no-health -d 'Leave health out of replies'
complete -c hb-ack -s v -l verbose -d 'Also print a line for every probe answered'
complete -c hb-ack -s q -l quiet -d 'Print nothing on stdout'
complete -c hb-ack -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hb-ack -s V -l version -d 'Print version'
