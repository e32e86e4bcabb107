complete -c hb-send -l to -d 'Send each beat to HOST[:PORT] (repeatable; default port 26722)' -r
complete -c hb-send -l node -d 'Name this node (default: the host name)' -r
complete -c hb-send -l every -d 'Interval between beats; listeners learn it from the beats' -r
complete -c hb-send -l count -d 'Send N beats, then exit (exit 1 if any could not be sent)' -r
complete -c hb-send -l once -d 'Send one beat and exit: --count 1'
complete -c hb-send -l health -d 'Carry health in each beat: CPU (over the interval), memory, swap, load, uptime'
complete -c hb-send -s v -l verbose -d 'Print a `sent` event for every beat'
complete -c hb-send -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hb-send -s V -l version -d 'Print version'
