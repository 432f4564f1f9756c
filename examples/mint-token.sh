#!/usr/bin/env bash
# Mints a jobgate token straight into Redis (docs/redis-schema.md), without the jobgate CLI.
# Usage: JOBGATE_REDIS_URL=redis://host:6379 JOBGATE_KEY_PREFIX=jobgate: mint-token.sh NAME ROLE [SELECTOR]
# Reads the settings as jobgate does: JOBGATE_REDIS_URL (default redis://127.0.0.1:6379; REDIS_URL, the
# name earlier versions read, when it is unset), JOBGATE_REDIS_USERNAME and JOBGATE_REDIS_PASSWORD (they
# win over the URL's user and password), JOBGATE_KEY_PREFIX (default jobgate:); empty counts as unset.
# ROLE is read or operator. SELECTOR is checked for the grammar jobgate reads (k=v, k!=v, k in (a,b),
# k notin (a,b), k, !k, k>n, k<n, joined by ','); mint-token.py checks it exactly as jobgate parses it.
# Needs openssl, sha256sum and redis-cli. Prints the token value: it cannot be read back later.
# Exit 2: bad input, nothing written; exit 1: Redis failed.
set -euo pipefail
LC_ALL=C # byte-wise patterns below; the name's length is counted in characters by hand
refuse() { echo "mint-token: $*" >&2; exit 2; }
shown() { if [[ $1 =~ ^[\ -~]*$ ]]; then printf '"%s"' "$1"; else printf %q "$1"; fi; } # quoted, escaped when not printable ASCII
[ $# -ge 2 ] && [ $# -le 3 ] || refuse "usage: $0 NAME ROLE [SELECTOR]   (ROLE: read or operator)"
name=$1 role=$2 selector=${3:-}

# NAME: 1 to 128 characters (UTF-16 units, as jobgate counts: UTF-8 lead bytes, plus one for 4-byte ones).
lead=${name//[$'\x80'-$'\xbf']/} wide=${name//[^$'\xf0'-$'\xf7']/}
[[ -n $name && $name != *[[:cntrl:]]* ]] && ((${#lead} + ${#wide} <= 128)) ||
  refuse "NAME must be 1 to 128 characters without control characters"
[[ $role == read || $role == operator ]] ||
  refuse "ROLE $(shown "$role") is not accepted: expected read (job URLs) or operator (job URLs and the training API)"

# SELECTOR: requirements joined by ','; keys [prefix/]name, values empty or a name (Kubernetes' label rules).
sp=$' \t\n\r' s="[$sp]*" word='[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?'
key="([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?$word" value="($word)?"
list="\\($s$value$s(,$s$value$s)*\\)" # k>n and k<n: n is a label value that is a whole number
term="(!$s$key|$key$s(==?|!=)$s$value|$key$s[<>]$s[0-9]{1,63}|$key[$sp]+(in|notin)$s$list|$key)"
prefixes='([a-z0-9.-]+)/(.*)' numbers="[<>]${s}0*([1-9][0-9]*)?(.*)"
bad_selector() { refuse "SELECTOR $(shown "$selector") is not a label selector jobgate accepts: $1 (docs/redis-schema.md#label-selectors)"; }
if ((${#selector} > 4096)); then
  bad_selector "it is longer than 4096 characters"
elif [[ $selector =~ ^$s$ ]]; then
  : # unscoped: the token reaches every job
elif [[ ! $selector =~ ^$s$term$s(,$s$term$s)*$ ]]; then
  bad_selector "expected k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k, k>n or k<n joined by ','; keys and values are letters, digits, '-', '_' and '.'"
else
  rest=$selector # What the pattern cannot say: a key's prefix has at most 253 characters, n fits in 64 bits.
  while [[ $rest =~ $prefixes ]]; do
    ((${#BASH_REMATCH[1]} <= 253)) || bad_selector "a key's prefix has at most 253 characters"
    rest=${BASH_REMATCH[2]}
  done
  rest=$selector
  while [[ $rest =~ $numbers ]]; do
    ((${#BASH_REMATCH[1]} < 19)) || { ((${#BASH_REMATCH[1]} == 19)) && [[ ! ${BASH_REMATCH[1]} > 9223372036854775807 ]]; } ||
      bad_selector "n in k>n and k<n is at most 9223372036854775807"
    rest=${BASH_REMATCH[2]}
  done
fi

for other in JOBGATE_REDIS_SENTINELS JOBGATE_REDIS_CLUSTER_NODES; do
  [ -z "${!other:-}" ] || refuse "$other is set, but this script writes to one Redis server: point JOBGATE_REDIS_URL at the master, or use \`jobgate token create\`"
done
url_name=JOBGATE_REDIS_URL url=${JOBGATE_REDIS_URL:-${REDIS_URL:-redis://127.0.0.1:6379}}
[ -n "${JOBGATE_REDIS_URL:-}" ] || [ -z "${REDIS_URL:-}" ] || url_name=REDIS_URL
# Never echoed: the URL may hold a password.
[[ $url =~ ^rediss?://[^\ $'\t\n\r']*$ && ! $url =~ ^[^/]*//[^/]*/.*[^0-9] && ! $url =~ ^[^/]*//[^/]*/[0-9]{6} ]] ||
  refuse "$url_name is not accepted (not shown: it may hold a password): expected a redis:// or rediss:// URL, such as redis://user:password@host:6379/0"
prefix=${JOBGATE_KEY_PREFIX:-jobgate:}
[[ $prefix =~ ^[!-~]{1,64}$ ]] || refuse "JOBGATE_KEY_PREFIX $(shown "$prefix") is not accepted: expected 1 to 64 printable characters without spaces"

# Every user of the machine can read redis-cli's command line (ps): the URL goes there without
# its user and password; the password goes by environment (REDISCLI_AUTH), the user by --user.
# Like redis-cli, "user:password@" or "password@", percent-encoded.
pct() { local s=${1//\\/\\\\}; printf '%b' "${s//%/\\x}"; }
cli=(redis-cli --no-auth-warning) user=${JOBGATE_REDIS_USERNAME:-} secret=${JOBGATE_REDIS_PASSWORD:-}
if [[ $url =~ ^(rediss?://)([^@]*)@(.*)$ ]]; then
  userinfo=${BASH_REMATCH[2]} url=${BASH_REMATCH[1]}${BASH_REMATCH[3]}
  if [[ $userinfo == *:* ]]; then
    [ -n "$user" ] || user=$(pct "${userinfo%%:*}")
    userinfo=${userinfo#*:}
  fi
  [ -n "$secret" ] || secret=$(pct "$userinfo")
fi
if [ -n "$user" ]; then cli+=(--user "$user"); fi
if [ -n "$secret" ]; then REDISCLI_AUTH=$secret; export REDISCLI_AUTH; fi
id=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen | tr A-F a-f)
body="jgt_${id}_$(openssl rand -hex 32)"
hash=$(printf %s "$body" | sha256sum | cut -d' ' -f1)
now=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) # as jobgate writes it: milliseconds (000 where date has no %N)
[[ $now =~ ^[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z$ ]] || now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
# The audit event names who wrote, as jobgate's CLI does: the OS user (uid:N without a passwd entry), the host name.
os_user=$(id -un 2>/dev/null) || os_user="uid:$(id -u)"
os_host=${HOSTNAME:-$(uname -n)}
q() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "${s//$'\n'/\\n}"; }  # one redis-cli quoted argument
reply=$("${cli[@]}" -u "$url" 2>&1 <<REDIS
MULTI
HSET $(q "${prefix}token:$id") id $id name $(q "$name") role $role labelSelector $(q "$selector") secretHash $hash version 1 createdAt $now updatedAt $now
SADD $(q "${prefix}tokens") $id
PUBLISH $(q "${prefix}invalidate") token:$id
XADD $(q "${prefix}events") MAXLEN ~ 10000 * time $now action token.create targetId $id actor cli cliUser $(q "$os_user") cliHost $(q "$os_host") targetName $(q "$name") labelSelector $(q "$selector")
EXEC
REDIS
)
# MULTI, four QUEUED, then EXEC's replies: 8 fields written, 1 id added, N subscribers told, the event's id.
[[ $(tr '\n' ' ' <<<"$reply") =~ ^OK\ QUEUED\ QUEUED\ QUEUED\ QUEUED\ 8\ 1\ [0-9]+\ [0-9]+-[0-9]+\ $ ]] || { echo "mint-token: Redis refused the write: $(head -n 1 <<<"$reply")" >&2; exit 1; }
echo "${body}_${hash:0:8}"
