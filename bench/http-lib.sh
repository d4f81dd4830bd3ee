# The HTTP part of the bench helpers, shared by bench/http.sh and bench/http-ab.sh
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

start_nginx() { # sets NGINX_ADDR; NGINX_PID once it answers (see wait_for)
    local port
    port=$(free_port)
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
    server { listen 127.0.0.1:$port; root $WORK/www; }
}
CONF
    timeout 1800 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
    NGINX_ADDR=127.0.0.1:$port
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
