#!/usr/bin/env bash
# Time to write a practice feedback report, against a running `make up` stack (demo books loaded).
# Registers a student, uploads the jittered take (devtools.audio_synth), waits for its analysis,
# then times 15 reports written (?refresh=true) and 15 stored ones read, through the edge, and
# reads the API's feedback_generation_duration_seconds histogram. Figures are appended to
# loadtest/results/bench-feedback.md.
#   EDGE=http://127.0.0.1:8787 API=http://127.0.0.1:8080 LOCAL_DIR=.local devtools/bench_feedback.sh
set -euo pipefail
EDGE=${EDGE:-http://127.0.0.1:8787}
API=${API:-http://127.0.0.1:8080}
LOCAL=${LOCAL_DIR:-.local}
OUT=loadtest/results/bench-feedback.md
email="bench-$(date +%s)@example.com"
curl -sf -X POST "$EDGE/api/auth/register" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"a-long-password\",\"display_name\":\"Bench\",\"role\":\"student\"}" >/dev/null
TOK=$(curl -sf -X POST "$EDGE/api/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"a-long-password\"}" | jq -r .access_token)
.venv/bin/python -m devtools.audio_synth "$LOCAL/takes" --take jittered >/dev/null
RID=$(curl -sf -X POST "$EDGE/api/v1/upload" -H "Authorization: Bearer $TOK" \
  -F "audio=@$LOCAL/takes/jittered.wav" | jq -r .id)
until [ "$(curl -sf "$EDGE/api/v1/recordings/$RID" -H "Authorization: Bearer $TOK" | jq -r .status)" = completed ]; do
  sleep 1
done
times() {  # $1: query string; prints n, min, median, max of 15 calls (each must answer 200)
  for _ in $(seq 15); do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST "$EDGE/api/v1/feedback/$RID$1" \
      -H "Authorization: Bearer $TOK"
  done | awk '$1 != 200 {print "HTTP " $1 > "/dev/stderr"; exit 1} {print $2}' | sort -n |
    awk '{a[NR]=$1} END {printf "n=%d min=%.3f median=%.3f max=%.3f s", NR, a[1], a[int((NR+1)/2)], a[NR]}'
}
written=$(times "?refresh=true")
stored=$(times "")
histogram=$(curl -sf "$API/api/metrics" | grep '^feedback_generation_duration_seconds_\(sum\|count\){mode="template",outcome="ok"}' || true)
{
  echo
  echo "## $(date -u +%FT%TZ) (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  echo '```text'
  echo "written (?refresh=true): $written"
  echo "stored:                  $stored"
  echo "$histogram"
  echo '```'
} | tee -a "$OUT"
