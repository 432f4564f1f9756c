#!/usr/bin/env python3
"""Mints a jobgate token straight into Redis (docs/redis-schema.md), python3 stdlib only.

Usage: REDIS_URL=redis://host:6379 JOBGATE_KEY_PREFIX=jobgate: mint-token.py NAME ROLE [SELECTOR]
Prints the token value: it cannot be read back later.
"""
import datetime, hashlib, os, secrets, socket, ssl, sys, urllib.parse, uuid

if not 3 <= len(sys.argv) <= 4:
    sys.exit("usage: mint-token.py NAME ROLE [SELECTOR]")
url = urllib.parse.urlparse(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")
prefix = os.environ.get("JOBGATE_KEY_PREFIX") or "jobgate:"
token_id = str(uuid.uuid4())
body = f"jgt_{token_id}_{secrets.token_hex(32)}"
secret_hash = hashlib.sha256(body.encode()).hexdigest()
now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
record = {"id": token_id, "name": sys.argv[1], "role": sys.argv[2], "labelSelector": sys.argv[3] if len(sys.argv) == 4 else "",
          "secretHash": secret_hash, "version": "1", "createdAt": now, "updatedAt": now}

def resp(*args):  # one command in the Redis protocol: an array of bulk strings
    parts = [str(arg).encode() for arg in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)

commands = [resp("AUTH", *filter(None, [urllib.parse.unquote(url.username or "")]), urllib.parse.unquote(url.password))] if url.password else []
commands += [resp("SELECT", url.path.strip("/"))] if url.path.strip("/") else []
commands += [resp("MULTI"), resp("HSET", f"{prefix}token:{token_id}", *[x for pair in record.items() for x in pair]),
             resp("SADD", f"{prefix}tokens", token_id), resp("PUBLISH", f"{prefix}invalidate", f"token:{token_id}"), resp("EXEC")]
try:
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=5)
except OSError as error:
    sys.exit(f"mint-token: cannot reach Redis at {url.hostname}:{url.port or 6379}: {error}")
with sock:
    if url.scheme == "rediss":
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=url.hostname)
    sock.sendall(b"".join(commands))
    replies = sock.makefile("rb")
    for _ in commands[:-1]:  # +OK (AUTH, SELECT, MULTI), then +QUEUED three times
        if not (line := replies.readline()).startswith(b"+"):
            sys.exit(f"mint-token: Redis refused the write: {line.decode().strip()}")
    if (line := replies.readline()).strip() != b"*3":  # EXEC ran all three, or nothing (the connection drops the MULTI)
        sys.exit(f"mint-token: Redis refused the write: {line.decode().strip()}")
print(f"{body}_{secret_hash[:8]}")
