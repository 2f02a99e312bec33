#!/usr/bin/env bash
# xmpp-extauth benchmark suite (issue 6). See bench/README.md.
#
#   bench/run.sh [--smoke] [--rounds R] [--out DIR] [--skip-build]
#
# Builds the release binary, the driver (bench/driver), the in-process hash bench
# (bench/hashbench) and the crypt(3) probe, generates the workloads, runs every case of
# issue 6 once per round (rotating the order, so that all cases see the same machine
# state), and writes OUT/results.md: one Markdown table per measurement with
# median (min–max) over rounds and the ratio to the section's first case (its floor),
# then the targets. Raw result lines: OUT/results.tsv. Failures: OUT/errors.log.
#
# COMPARE_BIN=/path/to/other/build [COMPARE_NAME=name]: the rows a change to the serving
# loop or the backends moves, run again with that build, side by side.
# --smoke: one short round (< 60 s once built): everything runs and every answer is
# checked, speed is not judged. Exit status 1 if any case failed (a wrong answer, a helper
# that died or did not exit), in both modes; never because of a speed figure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=full
ROUNDS=5
OUT=${BENCH_OUT:-/tmp/xmpp-extauth-bench}
BUILD=1
while [ $# -gt 0 ]; do
    case $1 in
        --smoke) MODE=smoke ;;
        --rounds) ROUNDS=$2; shift ;;
        --out) OUT=$2; shift ;;
        --skip-build) BUILD=0 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$MODE" = smoke ] && ROUNDS=1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DATA=$OUT/data
RAW=$OUT/results.tsv
ERR=$OUT/errors.log
: > "$RAW"
: > "$ERR"
: > "$OUT/timing.log"
T0=$(date +%s)
say() { printf '== %s\n' "$*" >&2; }
have() { command -v "$1" > /dev/null 2>&1; }

# ---------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------
BIN=${XMPP_EXTAUTH_BIN:-$ROOT/target/release/xmpp-extauth}
XB=$ROOT/bench/target/release
# Full mode also builds per feature set and for x86_64 musl (static, what routers run),
# into target/bench-size: binary sizes, and the musl rows of start-up and RSS.
SZD=$ROOT/target/bench-size
MUSL=x86_64-unknown-linux-musl
FEATS=("default" "--no-default-features --features http" "--no-default-features")
if [ "$BUILD" = 1 ]; then
    say "building the release binary and the suite"
    (cd "$ROOT" && cargo build --release --quiet)
    cargo build --release --quiet --manifest-path "$ROOT/bench/Cargo.toml"
    cargo build --profile release-o3 --quiet -p hashbench --manifest-path "$ROOT/bench/Cargo.toml"
    if [ "$MODE" = full ]; then
        for f in "${FEATS[@]}"; do
            for t in "" "$MUSL"; do
                [ "$f" = default ] && [ -z "$t" ] && continue
                say "building: ${t:-host} $f"
                # shellcheck disable=SC2086
                (cd "$ROOT" && cargo build --release --quiet --target-dir "$SZD/${f//[ -]/}" \
                    ${t:+--target $t} $([ "$f" = default ] || echo $f)) 2>> "$ERR" ||
                    say "build failed: ${t:-host} $f (see $ERR)"
            done
        done
        # What ships: packaging/build.sh's flags (std rebuilt for size, no unwind tables,
        # packed relocations). The static-musl rows of start-up, RSS and size measure it.
        say "building: $MUSL as packaged (packaging/build.sh --no-packages)"
        (cd "$ROOT" && bash packaging/build.sh --target "$MUSL" --no-packages --dist "$SZD/dist") \
            >> "$ERR" 2>&1 || say "packaged build failed (see $ERR): musl rows use the plain cargo build"
    fi
fi
# sized FEATURE-SET TARGET -> path of that build (may not exist)
built() {
    if [ "$1" = default ] && [ -z "$2" ]; then echo "$BIN"; return; fi
    echo "$SZD/${1//[ -]/}/${2:+$2/}release/xmpp-extauth"
}
MUSL_BIN=$(built default $MUSL)
MUSL_FILE_BIN=$(built --no-default-features $MUSL)
# The packaged build when there is one (full mode builds it), else the plain cargo build.
# (`|| true`: with pipefail, a failed ls would end the script under set -e.)
PKG_BIN=$(ls "$SZD"/dist/xmpp-extauth-*-"$MUSL" 2> /dev/null | head -n 1 || true)
PKG_FILE_BIN=$(ls "$SZD"/dist/xmpp-extauth-*-"$MUSL"-file-only 2> /dev/null | head -n 1 || true)
if [ -n "$PKG_BIN" ] && [ -n "$PKG_FILE_BIN" ]; then
    MUSL_BIN=$PKG_BIN
    MUSL_FILE_BIN=$PKG_FILE_BIN
fi
CRYPT_PROBE=
if cc -O2 -Wall -o "$OUT/crypt_probe" "$ROOT/bench/crypt_probe.c" -lcrypt 2> "$OUT/cc.log"; then
    CRYPT_PROBE=$OUT/crypt_probe
else
    say "crypt_probe not built (libcrypt-dev missing?): no libxcrypt rows"
fi
# The independent yardstick kit, if it is beside the repository (../shared/bench).
KIT_SRC=${KIT:-$ROOT/../shared/bench}
[ -n "${KIT:-}" ] || [ -d "$KIT_SRC" ] || KIT_SRC=$ROOT/../../shared/bench   # from a worktree
KIT=
if [ -x "$KIT_SRC/build.sh" ] && BUILD_DIR=$OUT/kit "$KIT_SRC/build.sh" > /dev/null 2>&1; then
    KIT=$OUT/kit
fi

# ---------------------------------------------------------------------------------------
# Workloads: 16 (password, $6$, $5$) triples from openssl, reused across users, since
# only verification speed matters (12-byte passwords, 16-byte salts, rounds 5000).
# ---------------------------------------------------------------------------------------
if [ ! -s "$DATA/hashes.tsv" ] || [ ! -s "$DATA/auth-mix-100k.tsv" ]; then
    say "generating workloads in $DATA"
    mkdir -p "$DATA"
    for i in $(seq 1 16); do
        pw=$(printf 'pw%010d' "$i")
        salt=$(printf 'xmppextauth%05d' "$i")
        printf '%s\t%s\t%s\n' "$pw" "$(openssl passwd -6 -salt "$salt" "$pw")" \
            "$(openssl passwd -5 -salt "$salt" "$pw")"
    done > "$DATA/hashes.tsv.new"
    mv "$DATA/hashes.tsv.new" "$DATA/hashes.tsv"
    "$XB/xbench" gen --out "$DATA" --hashes "$DATA/hashes.tsv" --sizes 10,100000
fi

# ---------------------------------------------------------------------------------------
# nginx: a minimal mod_auth_http API (check_password from a map of the workload's users),
# keep-alive on :8390, no keep-alive on :8391, HTTPS on :8393 (keep-alive) and :8394 (no
# keep-alive), with a self-signed certificate for localhost. Access log: one line per
# request with nginx's connection serial number, to count connections.
# ---------------------------------------------------------------------------------------
NGX=$OUT/nginx
HTTP=0
start_nginx() {
    have nginx || { say "nginx not installed: no HTTP rows"; return 0; }
    mkdir -p "$NGX/tmp"
    chmod 0777 "$NGX/tmp"
    # A throw-away CA and a server certificate it signs (webpki refuses a self-signed
    # certificate used as its own CA). The helper trusts ca.pem through http_ca_file.
    if [ ! -s "$NGX/cert.pem" ]; then
        local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
        openssl req -x509 "${ec[@]}" -keyout "$NGX/ca.key" -out "$NGX/ca.pem" -days 30 \
            -subj "/CN=xmpp-extauth bench CA" -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign 2> /dev/null
        openssl req "${ec[@]}" -keyout "$NGX/key.pem" -out "$NGX/server.csr" -subj /CN=localhost 2> /dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$NGX/ext.cnf"
        openssl x509 -req -in "$NGX/server.csr" -CA "$NGX/ca.pem" -CAkey "$NGX/ca.key" \
            -CAcreateserial -days 30 -extfile "$NGX/ext.cnf" -out "$NGX/cert.pem" 2> /dev/null
    fi
    cat > "$NGX/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 256; }
http {
    client_body_temp_path $NGX/tmp; proxy_temp_path $NGX/tmp; fastcgi_temp_path $NGX/tmp;
    uwsgi_temp_path $NGX/tmp; scgi_temp_path $NGX/tmp;
    log_format conn '\$connection \$connection_requests \$status';
    access_log $NGX/access.log conn;
    keepalive_requests 1000000;
    map_hash_max_size 65536;
    map_hash_bucket_size 128;
    keepalive_timeout 60s;
    map "\$arg_user:\$arg_server:\$arg_pass" \$check_password {
        default "false";
        include $DATA/http-map-100k.conf;
    }
    ssl_certificate $NGX/cert.pem;
    ssl_certificate_key $NGX/key.pem;
    default_type text/plain;
    server {
        listen 127.0.0.1:8390;
        listen 127.0.0.1:8393 ssl;
        location = /auth/check_password { return 200 \$check_password; }
        location = /status { stub_status; }
    }
    # Cold connections: the server closes every connection after one request.
    server {
        listen 127.0.0.1:8391;
        listen 127.0.0.1:8394 ssl;
        keepalive_timeout 0;
        location = /auth/check_password { return 200 \$check_password; }
    }
}
EOF
    # An instance left over from an interrupted run holds the ports.
    [ -s "$NGX/nginx.pid" ] && nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -s stop 2> /dev/null && sleep 0.3
    if taskset -c 0 nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" 2>> "$ERR"; then
        HTTP=1
        trap 'nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -s stop 2> /dev/null || true' EXIT
        sleep 0.3
    else
        say "nginx did not start (see $ERR): no HTTP rows"
    fi
}

# ---------------------------------------------------------------------------------------
# Cases: "SECTION|CASE<TAB>COMMAND". Every command prints result lines
# (LABEL<TAB>key=value...) with its label; the first case of a section is its reference.
# ---------------------------------------------------------------------------------------
export XMPP_EXTAUTH_CONFIG=/dev/null
P="taskset -c 0"
H="$BIN --log none"
if [ "$MODE" = smoke ]; then
    N=2000; NP=20000; NP2=50000; NU=1000; NH=20; K=3; SECS=0.2; WRK_D=1s; NHTTP=500
else
    N=20000; NP=300000; NP2=1000000; NU=5000; NH=600; K=21; SECS=2; WRK_D=3s; NHTTP=5000
fi
CASES=()
add() { CASES+=("$1"$'\t'"$2"); }
rt() { printf '%s %s rt --label %q' "$P" "$XB/xbench" "$1"; shift; printf ' %q' "$@"; }
# Like rt, unpinned.
rt_free() { printf '%s rt --label %q' "$XB/xbench" "$1"; shift; printf ' %q' "$@"; }

# Counts nginx connections used by one case: the distinct connection serial numbers in
# the access log lines the case added.
with_conns() {
    local before after conns
    before=$(wc -l < "$NGX/access.log")
    local line
    line=$("$@") || return 1
    after=$(wc -l < "$NGX/access.log")
    conns=$(tail -n +"$((before + 1))" "$NGX/access.log" | awk '{print $1}' | sort -u | wc -l)
    printf '%s\tconns=%d\tconns_per_req=%s\n' "$line" "$conns" \
        "$(awk -v c="$conns" -v n="$((after - before))" 'BEGIN { printf "%.5f", n ? c / n : 0 }')"
}
# Keeps only the peak RSS of a result line (the footprint table).
rss_only() {
    "$@" | awk -F'\t' '{ printf "%s", $1; for (i = 2; i <= NF; i++) if ($i ~ /^(hwm|anon|file)_kib=/) printf "\t%s", $i; print "" }'
}
# The kit's driver, as a cross-check of ours (its JSON -> our line).
kit_rt() {
    local label=$1; shift
    "$@" | sed -n 's/.*"median":{"req_s":\([0-9.]*\),"p50_us":\([0-9.]*\),"p90_us":[0-9.]*,"p99_us":\([0-9.]*\).*"hwm_kib":\([0-9]*\).*/\1 \2 \3 \4/p' |
        awk -v l="$label" '{ printf "%s\treq_s=%s\tp50_us=%s\tp99_us=%s\thwm_kib=%s\n", l, $1, $2, $3, $4 }'
}
kit_crypt() {
    local label=$1; shift
    "$@" | sed -n 's/.*"verif_s":\([0-9.]*\).*/\1/p' | awk -v l="$label" '{ printf "%s\tverif_s=%s\n", l, $1 }'
}

S1="1. Round trip, one request at a time, pinned (taskset -c 0)"
for proto in generic ejabberd; do
    l="$S1|floor (ours, Rust) $proto"
    add "$l" "$(rt "$l" -p $proto --any -n $N -w "$DATA/isuser-100k.tsv" -- "$XB/floor" $proto)"
done
if [ -n "$KIT" ]; then
    for proto in generic ejabberd; do
        l="$S1|floor (kit fixed-helper, C) $proto"
        add "$l" "$(rt "$l" -p $proto --any -n $N -w "$DATA/isuser-100k.tsv" -- "$KIT/fixed-helper" --protocol $proto)"
    done
fi
for proto in generic ejabberd; do
    l="$S1|lookup floor (ours: HashSet of 100k names, no checks) $proto"
    add "$l" "$(rt "$l" -p $proto -n $N -w "$DATA/isuser-100k.tsv" -- "$XB/floor" $proto "$DATA/users-100k-plain.txt")"
done
for size in 10 100k; do
    for proto in generic ejabberd; do
        l="$S1|isuser $size users $proto"
        add "$l" "$(rt "$l" -p $proto -n $N -w "$DATA/isuser-$size.tsv" -- $H --protocol $proto --users-file "$DATA/users-$size-plain.txt")"
        l="$S1|auth {PLAIN} $size users $proto"
        add "$l" "$(rt "$l" -p $proto -n $N -w "$DATA/auth-$size.tsv" -- $H --protocol $proto --users-file "$DATA/users-$size-plain.txt")"
    done
done

S1B="1b. Round trip, UNPINNED (both CPUs)"
add "$S1B|floor (ours) generic" "$(rt_free "$S1B|floor (ours) generic" -p generic --any -n $NU -w "$DATA/isuser-100k.tsv" -- "$XB/floor" generic)"
for proto in generic ejabberd; do
    l="$S1B|isuser 100k users $proto"
    add "$l" "$(rt_free "$l" -p $proto -n $NU -w "$DATA/isuser-100k.tsv" -- $H --protocol $proto --users-file "$DATA/users-100k-plain.txt")"
done
l="$S1|auth mix, 20 % unknown users (dummy \$6\$ each), 100k users ejabberd"
add "$l" "$(rt "$l" -p ejabberd -n $((N / 10)) -w "$DATA/auth-mix-100k.tsv" -- $H --protocol ejabberd --users-file "$DATA/users-100k-plain.txt")"
l="$S1B|auth {PLAIN} 100k users generic"
add "$l" "$(rt_free "$l" -p generic -n $NU -w "$DATA/auth-100k.tsv" -- $H --protocol generic --users-file "$DATA/users-100k-plain.txt")"

if [ -n "$KIT" ]; then
    SX="1c. Cross-check: the kit C driver (extauth-bench) on the same helpers, pinned"
    add "$SX|kit driver: floor (ours) ejabberd" "kit_rt '$SX|kit driver: floor (ours) ejabberd' $P $KIT/extauth-bench --json -q -p ejabberd -w $DATA/auth-ok-10.tsv -n $N -- $XB/floor ejabberd"
    add "$SX|kit driver: isuser 100k ejabberd" "kit_rt '$SX|kit driver: isuser 100k ejabberd' $P $KIT/extauth-bench --json -q -p ejabberd -w $DATA/isuser-100k.tsv -n $N -- $H --protocol ejabberd --users-file $DATA/users-100k-plain.txt"
fi

for W in 64 1024; do
    n=$NP; [ $W = 1024 ] && n=$NP2
    S2="2. Pipelined, $W requests in flight, pinned"
    add "$S2|floor (ours) ejabberd" "$(rt "$S2|floor (ours) ejabberd" -p ejabberd --any -W $W -n $n -w "$DATA/isuser-100k.tsv" -- "$XB/floor" ejabberd)"
    add "$S2|floor (ours) generic" "$(rt "$S2|floor (ours) generic" -p generic --any -W $W -n $n -w "$DATA/isuser-100k.tsv" -- "$XB/floor" generic)"
    if [ -n "$KIT" ]; then
        l="$S2|floor (kit fixed-helper, C) ejabberd"
        add "$l" "$(rt "$l" -p ejabberd --any -W $W -n $n -w "$DATA/isuser-100k.tsv" -- "$KIT/fixed-helper" --protocol ejabberd)"
    fi
    l="$S2|lookup floor (ours: HashSet of 100k names, no checks) ejabberd"
    add "$l" "$(rt "$l" -p ejabberd -W $W -n $n -w "$DATA/isuser-100k.tsv" -- "$XB/floor" ejabberd "$DATA/users-100k-plain.txt")"
    for proto in ejabberd generic; do
        l="$S2|isuser 100k users $proto"
        add "$l" "$(rt "$l" -p $proto -W $W -n $n -w "$DATA/isuser-100k.tsv" -- $H --protocol $proto --users-file "$DATA/users-100k-plain.txt")"
    done
    l="$S2|isuser 10 users ejabberd"
    add "$l" "$(rt "$l" -p ejabberd -W $W -n $n -w "$DATA/isuser-10.tsv" -- $H --protocol ejabberd --users-file "$DATA/users-10-plain.txt")"
    l="$S2|auth {PLAIN} 100k users ejabberd"
    add "$l" "$(rt "$l" -p ejabberd -W $W -n $n -w "$DATA/auth-100k.tsv" -- $H --protocol ejabberd --users-file "$DATA/users-100k-plain.txt")"
done

for s in 6 5; do
    bits=512; [ $s = 5 ] && bits=256
    S3="3. \$$s\$ rounds=5000 verification, 12-byte passwords, pinned"
    [ -n "$CRYPT_PROBE" ] && add "$S3|libxcrypt crypt_r (crypt_probe)" "$P $CRYPT_PROBE $DATA/hashes.tsv $s $SECS '$S3|libxcrypt crypt_r (crypt_probe)'"
    [ -n "$KIT" ] && add "$S3|libxcrypt crypt_r (kit crypt-bench --pwlen 12)" "kit_crypt '$S3|libxcrypt crypt_r (kit crypt-bench --pwlen 12)' $P $KIT/crypt-bench --json --trials 1 --seconds $SECS --pwlen 12 '\$$s\$'"
    add "$S3|xmpp_extauth::hash in-process (hashbench)" "$P $XB/hashbench --hashes $DATA/hashes.tsv --scheme $s --seconds $SECS --label '$S3|xmpp_extauth::hash in-process (hashbench)'"
    [ -x "$XB-o3/hashbench" ] && add "$S3|same, built at opt-level 3 instead of \"s\"" "$P $XB-o3/hashbench --hashes $DATA/hashes.tsv --scheme $s --seconds $SECS --label '$S3|same, built at opt-level 3 instead of \"s\"'"
    l="$S3|through the helper: auth, 10 users, ejabberd"
    add "$l" "$(rt "$l" -p ejabberd -n $NH --warmup 5 -w "$DATA/auth-ok-10.tsv" -- $H --protocol ejabberd --users-file "$DATA/users-10-sha$bits.txt")"
done

S4="4. Start-up: spawn to first answer (isuser), pinned"
add "$S4|floor (ours)" "$(rt "$S4|floor (ours)" --startup $K -p generic --any -w "$DATA/isuser-10.tsv" -- "$XB/floor" generic)"
[ -n "$KIT" ] && add "$S4|floor (kit fixed-helper, C)" "$(rt "$S4|floor (kit fixed-helper, C)" --startup $K -p generic --any -w "$DATA/isuser-10.tsv" -- "$KIT/fixed-helper")"
for f in 10-plain 10-sha512 100k-plain 100k-sha512; do
    l="$S4|helper, users-$f.txt ($(du -k "$DATA/users-$f.txt" | cut -f1) KiB)"
    add "$l" "$(rt "$l" --startup $K -p generic -w "$DATA/isuser-${f%-*}.tsv" -- $H --protocol generic --users-file "$DATA/users-$f.txt")"
done

if [ -x "$MUSL_BIN" ]; then
    for f in 10-plain 100k-plain; do
        l="$S4|helper (static musl), users-$f.txt ($(du -k "$DATA/users-$f.txt" | cut -f1) KiB)"
        add "$l" "$(rt "$l" --startup $K -p generic -w "$DATA/isuser-${f%-*}.tsv" -- "$MUSL_BIN" --log none --protocol generic --users-file "$DATA/users-$f.txt")"
    done
fi

S5="5. Peak RSS (VmHWM just before end of input)"
if [ -n "$KIT" ]; then
    l="$S5|floor (kit fixed-helper, C)"
    add "$l" "rss_only $(rt "$l" -p generic --any -n $N -w "$DATA/isuser-10.tsv" -- "$KIT/fixed-helper")"
fi
l="$S5|floor (ours, Rust)"
add "$l" "rss_only $(rt "$l" -p generic --any -n $N -w "$DATA/isuser-10.tsv" -- "$XB/floor")"
for f in 10-plain 10-sha512 100k-plain 100k-sha512; do
    wl="$DATA/isuser-${f%-*}.tsv"; n=$N
    case $f in *sha512) wl="$DATA/auth-ok-${f%-*}.tsv"; n=$NH ;; esac
    l="$S5|file backend, users-$f.txt ($(du -k "$DATA/users-$f.txt" | cut -f1) KiB)"
    add "$l" "rss_only $(rt "$l" -p generic -n $n -w "$wl" -- $H --protocol generic --users-file "$DATA/users-$f.txt")"
done

for b in "$MUSL_BIN" "$MUSL_FILE_BIN"; do
    [ -x "$b" ] || continue
    feat="default features"; [ "$b" = "$MUSL_FILE_BIN" ] && feat="file only"
    for f in 10-plain 100k-plain; do
        l="$S5|static musl ($feat), file backend, users-$f.txt ($(du -k "$DATA/users-$f.txt" | cut -f1) KiB)"
        add "$l" "rss_only $(rt "$l" -p generic -n $N -w "$DATA/isuser-${f%-*}.tsv" -- "$b" --log none --protocol generic --users-file "$DATA/users-$f.txt")"
    done
done

S6="6. HTTP backend against local nginx (mod_auth_http API), pinned"
S6C="6b. HTTP cold connections (server closes after every request), pinned"
http_cases() {
    [ "$HTTP" = 1 ] || return 0
    have wrk && add "$S6|raw floor: wrk -t1 -c1, keep-alive" "$P wrk -t1 -c1 -d$WRK_D -s $ROOT/bench/wrk_check.lua http://127.0.0.1:8390 -- '$S6|raw floor: wrk -t1 -c1, keep-alive' $DATA/http-paths-100k.txt"
    local l url
    for url in http://127.0.0.1:8390/auth https://127.0.0.1:8393/auth; do
        l="$S6|helper auth, generic, ${url%%:*} keep-alive"
        add "$l" "with_conns $(rt "$l" -p generic -n $NHTTP -w "$DATA/http-auth-100k.tsv" -- $H --protocol generic --backend http --http-url $url --http-ca-file "$NGX/ca.pem")"
    done
    l="$S5|HTTP backend, HTTPS, after 1,000 requests"
    add "$l" "rss_only $(rt "$l" -p generic -n 1000 --warmup 0 -w "$DATA/http-auth-100k.tsv" -- $H --protocol generic --backend http --http-url https://127.0.0.1:8393/auth --http-ca-file "$NGX/ca.pem")"
    if [ -x "$MUSL_BIN" ]; then
        l="$S5|static musl, HTTP backend, HTTPS, after 1,000 requests"
        add "$l" "rss_only $(rt "$l" -p generic -n 1000 --warmup 0 -w "$DATA/http-auth-100k.tsv" -- "$MUSL_BIN" --log none --protocol generic --backend http --http-url https://127.0.0.1:8393/auth --http-ca-file "$NGX/ca.pem")"
    fi
    l="$S5|HTTP backend, plain HTTP, after 1,000 requests"
    add "$l" "rss_only $(rt "$l" -p generic -n 1000 --warmup 0 -w "$DATA/http-auth-100k.tsv" -- $H --protocol generic --backend http --http-url http://127.0.0.1:8390/auth)"
    have wrk && add "$S6C|raw floor: wrk -t1 -c1, Connection: close" "$P wrk -t1 -c1 -d$WRK_D -s $ROOT/bench/wrk_check.lua http://127.0.0.1:8391 -- '$S6C|raw floor: wrk -t1 -c1, Connection: close' $DATA/http-paths-100k.txt"
    for url in http://127.0.0.1:8391/auth https://127.0.0.1:8394/auth; do
        l="$S6C|helper auth, generic, ${url%%:*}, new connection per request"
        add "$l" "with_conns $(rt "$l" -p generic -n $((NHTTP / 10)) --warmup 20 -w "$DATA/http-auth-100k.tsv" -- $H --protocol generic --backend http --http-url $url --http-ca-file "$NGX/ca.pem")"
    done
}
start_nginx
http_cases

# A candidate build compared side by side with the main one (COMPARE_BIN=path,
# COMPARE_NAME=short name): the rows that a change to the serving loop or the backends
# moves, labelled "[NAME]".
if [ -n "${COMPARE_BIN:-}" ]; then
    C="$COMPARE_BIN --log none"
    CN="[${COMPARE_NAME:-candidate}]"
    for proto in generic ejabberd; do
        l="$S1|isuser 100k users $proto $CN"
        add "$l" "$(rt "$l" -p $proto -n $N -w "$DATA/isuser-100k.tsv" -- $C --protocol $proto --users-file "$DATA/users-100k-plain.txt")"
    done
    l="$S1|auth {PLAIN} 100k users generic $CN"
    add "$l" "$(rt "$l" -p generic -n $N -w "$DATA/auth-100k.tsv" -- $C --protocol generic --users-file "$DATA/users-100k-plain.txt")"
    S2="2. Pipelined, 64 requests in flight, pinned"
    for proto in ejabberd generic; do
        l="$S2|isuser 100k users $proto $CN"
        add "$l" "$(rt "$l" -p $proto -W 64 -n $NP -w "$DATA/isuser-100k.tsv" -- $C --protocol $proto --users-file "$DATA/users-100k-plain.txt")"
    done
    for f in 10-plain 100k-plain 100k-sha512; do
        l="$S4|helper, users-$f.txt ($(du -k "$DATA/users-$f.txt" | cut -f1) KiB) $CN"
        add "$l" "$(rt "$l" --startup $K -p generic -w "$DATA/isuser-${f%-*}.tsv" -- $C --protocol generic --users-file "$DATA/users-$f.txt")"
    done
    if [ "$HTTP" = 1 ]; then
        for url in http://127.0.0.1:8390/auth https://127.0.0.1:8393/auth; do
            l="$S6|helper auth, generic, ${url%%:*} keep-alive $CN"
            add "$l" "with_conns $(rt "$l" -p generic -n $NHTTP -w "$DATA/http-auth-100k.tsv" -- $C --protocol generic --backend http --http-url $url --http-ca-file "$NGX/ca.pem")"
        done
    fi
fi

# ---------------------------------------------------------------------------------------
# Rounds: every case once per round, the order rotated each round.
# ---------------------------------------------------------------------------------------
NC=${#CASES[@]}
TAB=$'\t'
FAILED=0
say "$NC cases x $ROUNDS rounds ($MODE)"
for ((r = 0; r < ROUNDS; r++)); do
    say "round $((r + 1))/$ROUNDS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    for ((k = 0; k < NC; k++)); do
        c=${CASES[$(((k + r * 7) % NC))]}
        label=${c%%$'\t'*}
        cmd=${c#*$'\t'}
        t1=$(date +%s%N)
        if ! out=$(eval "$cmd" 2>> "$ERR") || [ -z "$out" ] || printf '%s' "$out" | grep -q 'failed=1'; then
            printf '%s\tfailed=1\n' "$label" >> "$RAW"
            printf 'FAILED: %s\n  command: %s\n' "$label" "$cmd" >> "$ERR"
            say "FAILED: $label"
            FAILED=$((FAILED + 1))
        else
            # Result lines only (wrk prints its own report too).
            printf '%s\n' "$out" | grep -F "$TAB" >> "$RAW" || true
        fi
        printf '%6d ms  %s\n' "$((($(date +%s%N) - t1) / 1000000))" "$label" >> "$OUT/timing.log"
    done
done

# Binary sizes (stripped by the release profile), once.
SZ="5b. Binary size, stripped (release profile)"
for f in "${FEATS[@]}"; do
    for t in "" "$MUSL"; do
        b=$(built "$f" "$t")
        [ -f "$b" ] && printf '%s\tbytes=%s\n' "$SZ|${t:-$(rustc -vV | sed -n 's/^host: //p')}, features: $f" "$(stat -c %s "$b")" >> "$RAW"
    done
done
for b in "$PKG_BIN" "$PKG_FILE_BIN"; do
    [ -n "$b" ] && [ -f "$b" ] && printf '%s\tbytes=%s\n' "$SZ|$MUSL as packaged, $(case $b in *file-only) echo file only ;; *) echo default features ;; esac)" "$(stat -c %s "$b")" >> "$RAW"
done
# ---------------------------------------------------------------------------------------
# Targets (issue 6) and the report
# ---------------------------------------------------------------------------------------
tgt() { printf '@target\tname=%s\tnum=%s\t%s\tkey=%s\top=%s\tbound=%s\n' "$1" "$2" "$3" "$4" "$5" "$6" >> "$RAW"; }
kib() { du -k --apparent-size "$1" | cut -f1; }
tgt "round trip pinned, isuser 100k, ejabberd / floor" "$S1|isuser 100k users ejabberd" "den=$S1|floor (ours, Rust) ejabberd" req_s ">=" 0.90
tgt "round trip pinned, isuser 100k, generic / floor" "$S1|isuser 100k users generic" "den=$S1|floor (ours, Rust) generic" req_s ">=" 0.90
if [ -n "$KIT" ]; then
    for proto in generic ejabberd; do
        tgt "round trip pinned, isuser 100k, $proto / C floor" "$S1|isuser 100k users $proto" "den=$S1|floor (kit fixed-helper, C) $proto" req_s ">=" 0.90
        tgt "round trip pinned, isuser 100k, $proto / C floor, by p50 latency (floor p50 / helper p50)" "$S1|floor (kit fixed-helper, C) $proto" "den=$S1|isuser 100k users $proto" p50_us ">=" 0.90
    done
    tgt "pipelined W=64, isuser 100k, ejabberd / C floor" "2. Pipelined, 64 requests in flight, pinned|isuser 100k users ejabberd" "den=2. Pipelined, 64 requests in flight, pinned|floor (kit fixed-helper, C) ejabberd" req_s ">=" 0.5
fi
tgt "pipelined W=64, isuser 100k, ejabberd / floor" "2. Pipelined, 64 requests in flight, pinned|isuser 100k users ejabberd" "den=2. Pipelined, 64 requests in flight, pinned|floor (ours) ejabberd" req_s ">=" 0.5
tgt "pipelined W=64, isuser 100k, generic / floor" "2. Pipelined, 64 requests in flight, pinned|isuser 100k users generic" "den=2. Pipelined, 64 requests in flight, pinned|floor (ours) generic" req_s ">=" 0.5
for s in 6 5; do
    S3="3. \$$s\$ rounds=5000 verification, 12-byte passwords, pinned"
    tgt "\$$s\$ in-process / libxcrypt" "$S3|xmpp_extauth::hash in-process (hashbench)" "den=$S3|libxcrypt crypt_r (crypt_probe)" verif_s ">=" 1.0
    tgt "\$$s\$ in-process / libxcrypt, by on-CPU time (crypt µs / ours µs)" "$S3|libxcrypt crypt_r (crypt_probe)" "den=$S3|xmpp_extauth::hash in-process (hashbench)" cpu_us ">=" 1.0
done
tgt "start-up, 10 users (ms)" "$S4|helper, users-10-plain.txt ($(du -k "$DATA/users-10-plain.txt" | cut -f1) KiB)" "" startup_ms "<=" 2
tgt "start-up, 100k users {PLAIN} (ms)" "$S4|helper, users-100k-plain.txt ($(du -k "$DATA/users-100k-plain.txt" | cut -f1) KiB)" "" startup_ms "<=" 60
tgt "start-up, 100k users \$6\$ (ms)" "$S4|helper, users-100k-sha512.txt ($(du -k "$DATA/users-100k-sha512.txt" | cut -f1) KiB)" "" startup_ms "<=" 60
tgt "peak RSS, 10 users (KiB)" "$S5|file backend, users-10-plain.txt ($(du -k "$DATA/users-10-plain.txt" | cut -f1) KiB)" "" hwm_kib "<=" 1536
for f in 100k-plain 100k-sha512; do
    tgt "peak RSS, users-$f.txt (KiB; file + 2 MiB)" "$S5|file backend, users-$f.txt ($(du -k "$DATA/users-$f.txt" | cut -f1) KiB)" "" hwm_kib "<=" "$(($(kib "$DATA/users-$f.txt") + 2048))"
done
tgt "peak RSS, HTTPS backend after 1,000 requests (KiB)" "$S5|HTTP backend, HTTPS, after 1,000 requests" "" hwm_kib "<=" 3072
tgt "peak RSS, static musl, HTTPS backend after 1,000 requests (KiB)" "$S5|static musl, HTTP backend, HTTPS, after 1,000 requests" "" hwm_kib "<=" 3072
for feat in "default features" "file only"; do
    f=10-plain
    tgt "peak RSS, static musl ($feat), users-$f.txt (KiB)" "$S5|static musl ($feat), file backend, users-$f.txt ($(du -k "$DATA/users-$f.txt" | cut -f1) KiB)" "" hwm_kib "<=" 1536
    f=100k-plain
    tgt "peak RSS, static musl ($feat), users-$f.txt (KiB; file + 2 MiB)" "$S5|static musl ($feat), file backend, users-$f.txt ($(du -k "$DATA/users-$f.txt" | cut -f1) KiB)" "" hwm_kib "<=" "$(($(kib "$DATA/users-$f.txt") + 2048))"
done
tgt "start-up, static musl, 10 users (ms)" "$S4|helper (static musl), users-10-plain.txt ($(du -k "$DATA/users-10-plain.txt" | cut -f1) KiB)" "" startup_ms "<=" 2
tgt "start-up, static musl, 100k users {PLAIN} (ms)" "$S4|helper (static musl), users-100k-plain.txt ($(du -k "$DATA/users-100k-plain.txt" | cut -f1) KiB)" "" startup_ms "<=" 60
tgt "HTTP keep-alive / raw floor" "$S6|helper auth, generic, http keep-alive" "den=$S6|raw floor: wrk -t1 -c1, keep-alive" req_s ">=" 0.7
tgt "HTTP keep-alive: connections opened in the whole run (1 = none per request)" "$S6|helper auth, generic, http keep-alive" "" conns "<=" 1
if [ -n "$PKG_BIN" ]; then
    tgt "binary, x86_64-musl as packaged, default features (bytes)" "$SZ|$MUSL as packaged, default features" "" bytes "<=" 1677722
    tgt "binary, x86_64-musl as packaged, file only (bytes)" "$SZ|$MUSL as packaged, file only" "" bytes "<=" 460800
else
    tgt "binary, x86_64-musl, default features (bytes)" "$SZ|$MUSL, features: default" "" bytes "<=" 1677722
    tgt "binary, x86_64-musl, file only (bytes)" "$SZ|$MUSL, features: --no-default-features" "" bytes "<=" 460800
fi

{
    echo "### Results ($MODE, $ROUNDS round(s))"
    echo
    echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(uname -sr);" \
        "$(rustc --version); $(nginx -v 2>&1 | sed 's/.*: //') ; $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)."
    echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Command: \`bench/run.sh$([ "$MODE" = smoke ] && echo ' --smoke') --rounds $ROUNDS\` at commit $(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo '?')."
    echo "Helper: \`$("$BIN" --version 2> /dev/null | head -1)\` ($BIN)$([ -n "${COMPARE_BIN:-}" ] && echo "; rows marked [${COMPARE_NAME:-candidate}]: $COMPARE_BIN")."
    echo "Cells: median (min–max) over rounds; every answer checked against the workload;" \
        "driver and helper pinned to CPU 0 (\`taskset -c 0\`) unless marked UNPINNED; ratios are to each table's first row."
    echo
    "$XB/xbench" table "$RAW"
} > "$OUT/results.md"
say "done in $(($(date +%s) - T0)) s: $OUT/results.md ($FAILED failed; details in $ERR)"
[ "$FAILED" = 0 ]
