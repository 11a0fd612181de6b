# Set-up shared by the bench scripts that run one hub of their own (instructions.sh,
# per-entry.sh); sourced, not run. The caller sets BIN (the hub binary) and the array env
# (the hub's FRAUDHUB_* settings, the data directory among them).

PN="19900101-0017" # a test personal number
MATCH_BODY="{\"purpose\":\"account_opening\",\"identifiers\":[{\"kind\":\"se_personal_number\",\"value\":\"$PN\"}]}"

# Prints the API key of a new member whose quotas are lifted.
bench_key() {
    local member
    member=$(env "${env[@]}" "$BIN" member add --name bench --rate 1000000 --burst 1000000 2>/dev/null | awk '/^member/ {print $2}')
    env "${env[@]}" "$BIN" key issue --member "$member" --scopes flags:write,matches:read 2>/dev/null
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_ready BASE TRIES: waits (0.2 s a try) until the hub at BASE is ready; fails if not.
wait_ready() {
    for _ in $(seq 1 "$2"); do
        curl -fsS "$1/readyz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -fsS "$1/readyz" >/dev/null
}

# place_flag BASE KEY: flags PN, so that every match of MATCH_BODY finds it.
place_flag() {
    curl -fsS -o /dev/null -X POST "$1/v1/flags" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
        -d "{\"identifier\":{\"kind\":\"se_personal_number\",\"value\":\"$PN\"},\"kind\":\"identity_theft\",\"consent_reference\":\"bench-1\"}"
}
