_hb__listen() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="hb__listen"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        hb__listen)
            opts="-h -V --listen --every --expect --expect-file --beats --status-every --state --state-every --forget-after --from --join --peer --observer --quorum --view-every --replay --detector --misses --phi-threshold --phi-suspect --min-std-dev --acceptable-pause --phi-window --up-after --flap-changes --flap-window --confirm --no-confirm --trust-unreachable --false-down-chance --key-file --allow --log-rejects --max-skew --max-nodes --metrics --web-config --no-node-series --on --on-jobs --on-timeout --remind-every --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --listen)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --expect)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --expect-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --status-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --state)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --state-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --forget-after)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --from)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --join)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --peer)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --observer)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --quorum)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --view-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --detector)
                    COMPREPLY=($(compgen -W "fixed phi" -- "${cur}"))
                    return 0
                    ;;
                --misses)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --phi-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --phi-suspect)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --min-std-dev)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --acceptable-pause)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --phi-window)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --up-after)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --flap-changes)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --flap-window)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --false-down-chance)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --key-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --allow)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-skew)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-nodes)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web-config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --on)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --on-jobs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --on-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --remind-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _hb__listen -o nosort -o bashdefault -o default hb-listen
else
    complete -F _hb__listen -o bashdefault -o default hb-listen
fi
