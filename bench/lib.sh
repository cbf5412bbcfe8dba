# Shared by the bench scripts that time with hyperfine (sourced, not run). Expects: R (the
# results directory), SETTLE (seconds to wait for an idle CPU), fd 3 (where `log` writes) and
# a `log` function.
# shellcheck shell=bash

# Other tenants share this machine: before each hyperfine call wait (at most SETTLE seconds)
# for a half second with the CPUs at least 85% idle; the load at each start is recorded.
settle() {
    local deadline=$((SECONDS + SETTLE)) a b
    while [ "$SECONDS" -lt "$deadline" ]; do
        a=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat); sleep 0.5
        b=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
        # shellcheck disable=SC2086 # two numbers each
        set -- $a $b
        if [ $(( ($3 - $1) * 100 )) -le $(( 15 * (($3 - $1) + ($4 - $2)) )) ]; then return 0; fi
    done
    return 0
}
hf() { # NAME, hyperfine arguments...
    local name=$1; shift
    settle
    echo "$name $(cut -d' ' -f1 /proc/loadavg)" >> "$R/load.txt"
    if ! hyperfine --style basic --export-json "$R/$name.json" "$@" >"$R/$name.log" 2>&1; then
        cat "$R/$name.log" >&3
        exit 1
    fi
}
# Interleaved: WARMUP + RUNS rounds of one run of each command, the order rotating every
# round. Rounds are saved as NAME.N.json (warm-ups as NAME.warmup-N.json) and merged by the report.
hf_rounds() { # NAME WARMUP RUNS, then LABEL PREPARE COMMAND for each command
    local name=$1 warmup=$2 runs=$3; shift 3
    local -a items=("$@") args
    local n=$(( ${#items[@]} / 3 )) r i j file
    log "$name: $warmup + $runs interleaved rounds of $n commands (load $(cut -d' ' -f1-3 /proc/loadavg))"
    for r in $(seq 1 $((warmup + runs))); do
        args=()
        for i in $(seq 0 $((n - 1))); do
            j=$(( (i + r) % n ))
            args+=(-n "${items[3*j]}" --prepare "${items[3*j+1]}" "${items[3*j+2]}")
        done
        file="$name.$((r - warmup))"
        [ "$r" -le "$warmup" ] && file="$name.warmup-$r"
        hf "$file" --runs 1 "${args[@]}"
    done
}
