#!/bin/bash
# usage: ab.sh BIN PORT -> prints get/put 4KiB c1/c16 ops/s
BIN=$1; PORT=$2; D=$(mktemp -d)
(ARCA_ROOT_ACCESS_KEY=AKBENCH ARCA_ROOT_SECRET_KEY=benchsecret $BIN server --data $D/data --listen 127.0.0.1:$PORT > $D/server.log 2>&1 &)
sleep 1.5
B="/tmp/arca-new bench --endpoint http://127.0.0.1:$PORT --access-key AKBENCH --secret-key benchsecret -q --json"
out=""
for m in get put; do for c in 1 16; do
  v=$($B $m --size 4KiB --concurrency $c --duration 6 | python3 -c "import json,sys; d=json.load(sys.stdin); print(round(d['ops_per_sec']))")
  out="$out $m-c$c=$v"
done; done
pkill -f "listen 127.0.0.1:$PORT"; sleep 0.5; rm -rf $D
echo "$(basename $BIN):$out"
