#!/bin/bash
BIN=$1; PORT=$2; D=$(mktemp -d)
(ARCA_ROOT_ACCESS_KEY=AKBENCH ARCA_ROOT_SECRET_KEY=benchsecret $BIN server --data $D/data --listen 127.0.0.1:$PORT > $D/server.log 2>&1 &)
sleep 1.5
B="/tmp/arca-new bench --endpoint http://127.0.0.1:$PORT --access-key AKBENCH --secret-key benchsecret -q --json"
out=""
for mc in "put 64" "delete 16" "mixed 16"; do set -- $mc
  v=$($B $1 --size 4KiB --concurrency $2 --duration 6 | python3 -c "import json,sys; d=json.load(sys.stdin); print(round(d['ops_per_sec']))")
  out="$out $1-c$2=$v"
done
pkill -f "listen 127.0.0.1:$PORT"; sleep 0.5; rm -rf $D
echo "$(basename $BIN):$out"
