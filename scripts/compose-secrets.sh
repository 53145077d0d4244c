#!/usr/bin/env bash
# Creates the secret files docker-compose.yml mounts (docs/operations.md),
# each a fresh random value, leaving any that already exists untouched; and
# the ZeroMQ CURVE key pairs of the links between processes (a server pair
# for ingest, store and monitor, a client pair for everything that connects:
# curve_server_secret/_public, curve_client_secret/_public; X25519 from
# openssl, written in Z85 as libzmq reads them; docs/operations.md, "ZeroMQ keys"):
#   bash scripts/compose-secrets.sh [DIR]    (default: $HALO_SECRETS_DIR or ./secrets)
# The directory is 0700 (only its owner on the host reaches the files); the
# files are 0644 because the containers read them as uid 10001 (compose
# without swarm mounts them as they are). Rotating one: replace its file and
# run `docker compose up -d` again (docs/operations.md, "Rotating secrets").
set -euo pipefail
dir=${1:-${HALO_SECRETS_DIR:-./secrets}}
mkdir -p "$dir"
chmod 700 "$dir"
random() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
for name in postgres_password secret_key db_ingest_password db_fetcher_password db_store_password \
  db_monitor_password db_bi_reader_password; do
  f=$dir/$name
  if [ -s "$f" ]; then
    echo "kept    $f"
    continue
  fi
  (umask 022 && random >"$f")
  echo "created $f"
done

# z85 FILE: the 32 raw bytes of FILE in Z85 (ZeroMQ RFC 32), 40 characters.
z85() {
  od -An -v -tu1 "$1" | awk '
    BEGIN { a = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#" }
    { for (i = 1; i <= NF; i++) b[n++] = $i }
    END {
      for (i = 0; i < n; i += 4) {
        v = ((b[i] * 256 + b[i + 1]) * 256 + b[i + 2]) * 256 + b[i + 3]
        s = ""
        for (k = 0; k < 5; k++) { s = substr(a, v % 85 + 1, 1) s; v = int(v / 85) }
        out = out s
      }
      print out
    }'
}

# keypair NAME: NAME_secret and NAME_public (X25519, Z85), unless NAME_secret exists.
keypair() {
  local name=$1 tmp
  if [ -s "$dir/${name}_secret" ] && [ -s "$dir/${name}_public" ]; then
    echo "kept    $dir/${name}_secret"
    return 0
  fi
  tmp=$(mktemp -d)
  openssl genpkey -algorithm X25519 -out "$tmp/key.pem" 2>/dev/null
  openssl pkey -in "$tmp/key.pem" -outform DER | tail -c 32 >"$tmp/secret"
  openssl pkey -in "$tmp/key.pem" -pubout -outform DER | tail -c 32 >"$tmp/public"
  (umask 022 && z85 "$tmp/secret" >"$dir/${name}_secret" && z85 "$tmp/public" >"$dir/${name}_public")
  rm -rf "$tmp"
  echo "created $dir/${name}_secret (public key: $(cat "$dir/${name}_public"))"
}
keypair curve_server
keypair curve_client
