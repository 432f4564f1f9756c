#!/usr/bin/env bash
# Mints a jobgate token straight into Redis (docs/redis-schema.md), without the jobgate CLI.
# Usage: REDIS_URL=redis://host:6379 JOBGATE_KEY_PREFIX=jobgate: mint-token.sh NAME ROLE [SELECTOR]
# Needs openssl, sha256sum and redis-cli. Prints the token value: it cannot be read back later.
set -euo pipefail
[ $# -ge 2 ] && [ $# -le 3 ] || { echo "usage: $0 NAME ROLE [SELECTOR]" >&2; exit 2; }
url=${REDIS_URL:-redis://127.0.0.1:6379} prefix=${JOBGATE_KEY_PREFIX:-jobgate:}
# Every user of the machine can read redis-cli's command line (ps): the URL goes there without
# its user and password; the password goes by environment (REDISCLI_AUTH), the user by --user.
# Like redis-cli, "user:password@" or "password@", percent-encoded.
pct() { local s=${1//\\/\\\\}; printf '%b' "${s//%/\\x}"; }
cli=(redis-cli --no-auth-warning)
if [[ $url =~ ^(rediss?://)([^@]*)@(.*)$ ]]; then
  secret=${BASH_REMATCH[2]} url=${BASH_REMATCH[1]}${BASH_REMATCH[3]}
  if [[ $secret == *:* ]]; then
    user=${secret%%:*} secret=${secret#*:}
    if [ -n "$user" ]; then cli+=(--user "$(pct "$user")"); fi
  fi
  if [ -n "$secret" ]; then REDISCLI_AUTH=$(pct "$secret"); export REDISCLI_AUTH; fi
fi
id=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen | tr A-F a-f)
body="jgt_${id}_$(openssl rand -hex 32)"
hash=$(printf %s "$body" | sha256sum | cut -d' ' -f1)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
q() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "${s//$'\n'/\\n}"; }  # one redis-cli quoted argument
reply=$("${cli[@]}" -u "$url" <<REDIS
MULTI
HSET $(q "${prefix}token:$id") id $id name $(q "$1") role $(q "$2") labelSelector $(q "${3:-}") secretHash $hash version 1 createdAt $now updatedAt $now
SADD $(q "${prefix}tokens") $id
PUBLISH $(q "${prefix}invalidate") token:$id
EXEC
REDIS
)
# MULTI, three QUEUED, then EXEC's replies: 8 fields written, 1 id added, N subscribers told.
[[ $(tr '\n' ' ' <<<"$reply") == "OK QUEUED QUEUED QUEUED 8 1 "* ]] || { echo "mint-token: Redis refused the write: $reply" >&2; exit 1; }
echo "${body}_${hash:0:8}"
