#!/bin/bash
# The image's HEALTHCHECK: GET /healthz from the engine's HTTP endpoint and
# succeed on status 200 only. bookworm-slim has no curl or wget; bash's
# /dev/tcp is enough for one HTTP/1.0 request, so the image needs no extra
# package for it. The port is LOYALTY_HEALTH_PORT (default 9464, the port of
# the image's loyaltyd.conf); the engine must listen on 127.0.0.1 or on all
# interfaces.
set -u
port=${LOYALTY_HEALTH_PORT:-9464}
path=${LOYALTY_HEALTH_PATH:-/healthz}
if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
  echo "healthcheck: nothing listens on 127.0.0.1:$port" >&2
  exit 1
fi
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
if ! IFS= read -r -t 5 status <&3; then
  echo "healthcheck: no answer from 127.0.0.1:$port$path" >&2
  exit 1
fi
status=${status%$'\r'}
case "$status" in
  "HTTP/1."?" 200"*) exit 0 ;;
esac
echo "healthcheck: 127.0.0.1:$port$path answered: $status" >&2
exit 1
