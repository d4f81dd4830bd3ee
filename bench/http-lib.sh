# The HTTP part of the bench helpers, shared by bench/http.sh, http-ab.sh and https.sh
# (sourced after bench/lib.sh, not run): the served folder on tmpfs with its two files,
# and how sockit and nginx are started and checked.

# tmpfs when there is one, so the disk is not what is measured.
BASE=/tmp
[ -d /dev/shm ] && BASE=/dev/shm
work_dir "$BASE"
chmod 755 "$WORK"   # nginx's workers run as another user

mkdir -p "$WORK/www" "$WORK/nginx"
head -c 4096 /dev/urandom >"$WORK/www/small.bin"
head -c 1G /dev/zero >"$WORK/www/big.bin"

start_sockit() { # binary, log; sets STARTED_PID and STARTED_ADDR
    "$1" http serve "$WORK/www" --bind 127.0.0.1:0 >"$2" &
    STARTED_PID=$!
    STARTED_ADDR=$(listening_addr "$2")
}

# [CERT KEY]: with both, nginx speaks TLS 1.2 and 1.3 with them.
start_nginx() { # sets NGINX_ADDR; NGINX_PID once it answers (see wait_for)
    local port tls=""
    port=$(free_port)
    [ $# -eq 2 ] && tls="ssl; ssl_certificate $1; ssl_certificate_key $2; ssl_protocols TLSv1.2 TLSv1.3"
    cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx;
    proxy_temp_path $WORK/nginx;
    fastcgi_temp_path $WORK/nginx;
    uwsgi_temp_path $WORK/nginx;
    scgi_temp_path $WORK/nginx;
    default_type application/octet-stream;
    server { listen 127.0.0.1:$port $tls; root $WORK/www; }
}
CONF
    timeout 1800 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
    NGINX_ADDR=127.0.0.1:$port
}

# One wrk run against a server: prints "NAME KIND req/s CPU-µs-per-request", the CPU
# being the server's (PID) while wrk ran. wrk_cpu NAME KIND PID WRK-ARGS...
wrk_cpu() {
    local name=$1 kind=$2 pid=$3 t0 t1 out reqs rps
    shift 3
    t0=$(cpu_ticks "$pid")
    out=$(timeout $((SECS + 30)) wrk -d"${SECS}s" "$@")
    t1=$(cpu_ticks "$pid")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    echo "$name $kind $rps $(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / reqs ))"
}

# Waits until every address serves small.bin whole (or its figures would mean nothing).
wait_for() {
    local addr
    for addr in "$@"; do
        for _ in $(seq 100); do curl -sf -o /dev/null "http://$addr/small.bin" && break; sleep 0.05; done
        [ "$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://$addr/small.bin")" = "200 4096" ] ||
            die "$addr does not serve small.bin"
    done
    NGINX_PID=$(cat "$WORK/nginx/nginx.pid")
}
