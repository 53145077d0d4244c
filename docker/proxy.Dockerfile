# The "tls" compose profile's reverse proxy: Debian's nginx terminating TLS in
# front of halo-ingest. Only /hooks/ and /healthz are forwarded (ingest's
# /metrics stays private), access logs leave out the webhook token.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends nginx-light openssl curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* && rm -f /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stderr /var/log/nginx/error.log
COPY proxy-entrypoint.sh /usr/local/bin/proxy-entrypoint.sh
COPY nginx-ingest.conf /etc/nginx/halo-ingest.conf.template
EXPOSE 8443
ENTRYPOINT ["sh", "/usr/local/bin/proxy-entrypoint.sh"]
