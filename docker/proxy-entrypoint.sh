#!/bin/sh
# Starts nginx in front of ingest: uses /etc/halo-tls/cert.pem and key.pem
# when mounted, otherwise makes a self-signed pair for HALO_TLS_SERVER_NAME
# (fine for a test; HaloPSA needs a certificate it trusts).
set -eu
dir=/etc/halo-tls
name=${HALO_TLS_SERVER_NAME:-localhost}
upstream=${HALO_TLS_UPSTREAM:-ingest:8080}
if [ ! -s "$dir/cert.pem" ] || [ ! -s "$dir/key.pem" ]; then
  dir=/run/halo-tls
  mkdir -p "$dir"
  echo "proxy: no certificate in /etc/halo-tls, generating a self-signed one for $name" >&2
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$name" \
    -addext "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
  chmod 600 "$dir/key.pem"
fi
sed -e "s|@CERT_DIR@|$dir|g" -e "s|@UPSTREAM@|$upstream|g" -e "s|@SERVER_NAME@|$name|g" \
  /etc/nginx/halo-ingest.conf.template >/etc/nginx/conf.d/halo-ingest.conf
exec nginx -g 'daemon off;'
