#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and the benchmark: Debian's
# `postgresql` package (installed when missing), a fresh cluster in a temporary
# folder, listening on 127.0.0.1 only, fsync on (honest numbers), trust auth for
# the local test role `frontdesk`, and TLS with a certificate for 127.0.0.1 signed
# by a throwaway CA (DIR/ca.crt) so the tests can check that desks verify it.
#
#   scripts/pg-server.sh start DIR   prints the server's URL (postgres://…/postgres)
#   scripts/pg-server.sh restart DIR stops it (fast: sessions are cut) and starts it
#   scripts/pg-server.sh stop DIR    stops it and removes DIR
#
# initdb and postgres refuse to run as root, so as root they run as the
# `postgres` OS user the package creates.
set -euo pipefail

cmd=${1:?start or stop}
dir=${2:?a folder for the cluster}

bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    return 1
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
start)
    if ! bin=$(bindir); then
        echo "pg-server: installing Debian's postgresql package" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends postgresql >&2
        # the package starts its own cluster on 5432: these tests use their own
        service postgresql stop >&2 2>/dev/null || true
        bin=$(bindir)
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    # a free port on 127.0.0.1, asked of the kernel (or a random high one)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        shuf -i 40000-60000 -n 1)
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U frontdesk -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    # a CA, and the server's certificate for 127.0.0.1 signed by it
    openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=Frontdesk test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 7 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
    chmod 600 "$dir/server.key" "$dir/ca.key"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"/server.* "$dir"/ca.*
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o \
        "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200 \
         -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" \
        start >&2 || { cat "$dir/log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    echo "postgres://frontdesk@127.0.0.1:$port/postgres"
    ;;
restart)
    bin=$(bindir)
    # pg_ctl restart starts it again with the options it was started with
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -m fast -w restart >&2
    ;;
stop)
    if [ -d "$dir/data" ] && bin=$(bindir) &&
        as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        # a server that will not stop keeps its folder (and says so)
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 ||
            { echo "pg-server: the server in $dir did not stop" >&2; exit 1; }
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|restart|stop DIR" >&2
    exit 2
    ;;
esac
