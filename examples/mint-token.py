#!/usr/bin/env python3
"""Mints a jobgate token straight into Redis (docs/redis-schema.md), python3 stdlib only.

Usage: JOBGATE_REDIS_URL=redis://host:6379 JOBGATE_KEY_PREFIX=jobgate: mint-token.py NAME ROLE [SELECTOR]
Reads the settings as jobgate does: JOBGATE_REDIS_URL (default redis://127.0.0.1:6379; REDIS_URL,
the name earlier versions read, when it is unset), JOBGATE_REDIS_USERNAME and JOBGATE_REDIS_PASSWORD
(they win over the URL's user and password), JOBGATE_KEY_PREFIX (default jobgate:); an empty value
counts as unset. ROLE is read or operator; SELECTOR is checked as jobgate parses it.
Prints the token value: it cannot be read back later. Exit 2: bad input, nothing written; exit 1: Redis failed.
"""
import datetime, hashlib, json, os, pwd, re, secrets, socket, ssl, sys, urllib.parse, uuid


def refuse(message):  # bad input: one line on stderr, exit 2, nothing written
    print(f"mint-token: {message}", file=sys.stderr)
    sys.exit(2)


def setting(name, default=None):
    return os.environ.get(name) or default


# Kubernetes label selectors as jobgate reads them (src/selector/parse.ts, docs/redis-schema.md#label-selectors).
NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
INTEGER = re.compile(r"[-+]?[0-9]+")
SYMBOLS = "=!(),><"


def selector_problem(text):
    """Why jobgate would refuse `text` as a label selector, with the position, or None."""
    if len(text.encode("utf-16-le")) // 2 > 4096:
        return "it is longer than 4096 characters"
    tokens, i = [], 0  # (kind, text, start): words, symbols ('==' and '!=' are one), then the end
    while i < len(text):
        start = i
        if text[i] in " \t\n\r":
            i += 1
            continue
        if text[i] in SYMBOLS:
            i += 2 if text[i] in "=!" and text[i + 1 : i + 2] == "=" else 1
            tokens.append(("symbol", text[start:i], start))
            continue
        while i < len(text) and text[i] not in " \t\n\r" and text[i] not in SYMBOLS:
            i += 1
        tokens.append(("word", text[start:i], start))
    tokens.append(("end", "", len(text)))
    if len(tokens) == 1:
        return None

    class Bad(Exception):
        pass

    def unexpected(token, expected):
        found = "end of selector" if token[0] == "end" else json.dumps(token[1]) if token[0] == "word" else f"'{token[1]}'"
        raise Bad(f"unexpected {found} at {token[2]}: expected {expected}")

    def key(token, expected):
        if token[0] != "word":
            unexpected(token, expected)
        prefix, slash, name = token[1].rpartition("/")
        if not NAME.fullmatch(name) or (slash and (not PREFIX.fullmatch(prefix) or len(prefix) > 253)):
            raise Bad(f"invalid label key {json.dumps(token[1])} at {token[2]}: [prefix/]name, name 1 to 63 of A-Z a-z 0-9 - _ . (starting and ending with a letter or digit), prefix a lowercase DNS name")

    def value(token):
        if token[1] and not NAME.fullmatch(token[1]):
            raise Bad(f"invalid label value {json.dumps(token[1])} at {token[2]}: empty, or 1 to 63 of A-Z a-z 0-9 - _ . starting and ending with a letter or digit")
        return token[1]

    at = 0
    try:
        while True:
            first = tokens[at]; at += 1
            if first[:2] == ("symbol", "!"):
                key(tokens[at], "a key"); at += 1
            else:
                key(first, "a key or '!'")
                op = tokens[at]
                if op[0] != "end" and op[:2] != ("symbol", ","):
                    at += 1
                    if op[0] == "word" and op[1] in ("in", "notin"):
                        if tokens[at][:2] != ("symbol", "("):
                            unexpected(tokens[at], "'('")
                        at += 1
                        while True:
                            if tokens[at][0] == "word":
                                value(tokens[at]); at += 1
                            elif tokens[at][:2] not in (("symbol", ","), ("symbol", ")")):
                                unexpected(tokens[at], "a value, ',' or ')'")
                            separator = tokens[at]; at += 1
                            if separator[:2] == ("symbol", ")"):
                                break
                            if separator[:2] != ("symbol", ","):
                                unexpected(separator, "',' or ')'")
                    elif op[0] == "symbol" and op[1] in ("=", "==", "!=", ">", "<"):
                        token = tokens[at]
                        v = ""
                        if token[0] == "word":
                            v = value(token); at += 1
                        elif token[0] != "end" and token[:2] != ("symbol", ","):
                            unexpected(token, "a value")
                        if op[1] in "><" and not (INTEGER.fullmatch(v) and -(2**63) <= int(v) < 2**63):
                            raise Bad(f"invalid value {json.dumps(v)} at {token[2] if token[0] == 'word' else op[2] + 1}: '{op[1]}' compares integers, so the value must be a whole number (digits, at most 9223372036854775807)")
                    else:
                        unexpected(op, "'=', '==', '!=', '>', '<', 'in', 'notin', ',' or end of selector")
            token = tokens[at]; at += 1
            if token[0] == "end":
                return None
            if token[:2] != ("symbol", ","):
                unexpected(token, "',' or end of selector")
    except Bad as bad:
        return str(bad)


if not 3 <= len(sys.argv) <= 4:
    refuse("usage: mint-token.py NAME ROLE [SELECTOR]   (ROLE: read or operator)")
name, role, selector = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else ""
try:
    name.encode(), selector.encode()
except UnicodeEncodeError:
    refuse("NAME and SELECTOR must be UTF-8 text")
if not name or len(name.encode("utf-16-le")) // 2 > 128 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
    refuse("NAME must be 1 to 128 characters without control characters")
if role not in ("read", "operator"):
    refuse(f"ROLE {json.dumps(role)} is not accepted: expected read (job URLs) or operator (job URLs and the training API)")
if problem := selector_problem(selector):
    refuse(f"SELECTOR {json.dumps(selector)} is not a label selector jobgate accepts: {problem} (docs/redis-schema.md#label-selectors)")

for other in ("JOBGATE_REDIS_SENTINELS", "JOBGATE_REDIS_CLUSTER_NODES"):
    if setting(other):
        refuse(f"{other} is set, but this script writes to one Redis server: point JOBGATE_REDIS_URL at the master, or use `jobgate token create`")
url_name = "REDIS_URL" if setting("REDIS_URL") and not setting("JOBGATE_REDIS_URL") else "JOBGATE_REDIS_URL"
url_text = setting("JOBGATE_REDIS_URL") or setting("REDIS_URL") or "redis://127.0.0.1:6379"
try:  # Never echoed: the URL may hold a password.
    url = urllib.parse.urlsplit(url_text)
    port = url.port or 6379
    if url.scheme not in ("redis", "rediss") or re.search(r"\s", url_text) or not re.fullmatch(r"/?[0-9]{0,5}", url.path):
        raise ValueError
except ValueError:
    refuse(f"{url_name} is not accepted (not shown: it may hold a password): expected a redis:// or rediss:// URL, such as redis://user:password@host:6379/0")
prefix = setting("JOBGATE_KEY_PREFIX", "jobgate:")
if not re.fullmatch(r"[\x21-\x7e]{1,64}", prefix):
    refuse(f"JOBGATE_KEY_PREFIX {json.dumps(prefix)} is not accepted: expected 1 to 64 printable characters without spaces")
user = setting("JOBGATE_REDIS_USERNAME") or urllib.parse.unquote(url.username or "")
password = setting("JOBGATE_REDIS_PASSWORD") or urllib.parse.unquote(url.password or "")

token_id = str(uuid.uuid4())
body = f"jgt_{token_id}_{secrets.token_hex(32)}"
secret_hash = hashlib.sha256(body.encode()).hexdigest()
now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
record = {"id": token_id, "name": name, "role": role, "labelSelector": selector, "secretHash": secret_hash, "version": "1", "createdAt": now, "updatedAt": now}
try:  # the audit event names who wrote, as jobgate's CLI does: the OS user (uid:N without a passwd entry), the host name
    os_user = pwd.getpwuid(os.getuid()).pw_name
except KeyError:
    os_user = f"uid:{os.getuid()}"
event = {"time": now, "action": "token.create", "targetId": token_id, "actor": "cli", "cliUser": os_user, "cliHost": socket.gethostname(),
         "targetName": name, "labelSelector": selector}


def resp(*args):  # one command in the Redis protocol: an array of bulk strings
    parts = [str(arg).encode() for arg in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


commands = [resp("AUTH", *filter(None, [user]), password)] if password else []
commands += [resp("SELECT", url.path.strip("/"))] if url.path.strip("/") else []
commands += [resp("MULTI"), resp("HSET", f"{prefix}token:{token_id}", *[x for pair in record.items() for x in pair]),
             resp("SADD", f"{prefix}tokens", token_id), resp("PUBLISH", f"{prefix}invalidate", f"token:{token_id}"),
             resp("XADD", f"{prefix}events", "MAXLEN", "~", "10000", "*", *[x for pair in event.items() for x in pair]), resp("EXEC")]
try:
    sock = socket.create_connection((url.hostname or "127.0.0.1", port), timeout=5)
except OSError as error:
    sys.exit(f"mint-token: cannot reach Redis at {url.hostname or '127.0.0.1'}:{port}: {error}")
with sock:
    if url.scheme == "rediss":
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=url.hostname)
    sock.sendall(b"".join(commands))
    replies = sock.makefile("rb")
    for _ in commands[:-1]:  # +OK (AUTH, SELECT, MULTI), then +QUEUED four times
        if not (line := replies.readline()).startswith(b"+"):
            sys.exit(f"mint-token: Redis refused the write: {line.decode().strip()}")
    # EXEC ran all four, or nothing (the connection drops the MULTI): 8 fields written, 1 id added,
    # N subscribers told, then the event's id as a bulk string.
    if (line := replies.readline()).strip() != b"*4":
        sys.exit(f"mint-token: Redis refused the write: {line.decode().strip()}")
    written = [replies.readline().strip() for _ in range(5)]  # the event's id comes as $<length>, then the id
    if written[:2] != [b":8", b":1"] or not re.fullmatch(rb":[0-9]+", written[2]) or not re.fullmatch(rb"[0-9]+-[0-9]+", written[4]):
        sys.exit(f"mint-token: Redis wrote something else than expected: {b' '.join(written).decode()}")
print(f"{body}_{secret_hash[:8]}")
