/* halo_endpoints: the default address of every socket the processes bind or
 * connect to, in one place. A default names one side of a connection: the
 * binder's and the connecter's variables share the same constant, so the
 * pipeline runs on one host with no configuration. Each process's config
 * table (and so its --help and docs/configuration.md) uses these. */
#ifndef HALO_ENDPOINTS_H
#define HALO_ENDPOINTS_H

/* ZeroMQ: ingest's ROUTER (HALO_INGEST_BIND), fetchers' DEALERs connect (HALO_INGEST_ENDPOINTS). */
#define HALO_ENDPOINT_INGEST "tcp://127.0.0.1:5555"
/* ZeroMQ: store's PULL (HALO_STORE_BIND), fetchers' PUSH connects (HALO_STORE_ENDPOINT). */
#define HALO_ENDPOINT_STORE "tcp://127.0.0.1:5556"
/* ZeroMQ: monitor's telemetry SUB (HALO_TELEMETRY_BIND), every PUB connects (HALO_TELEMETRY_ENDPOINT). */
#define HALO_ENDPOINT_TELEMETRY "tcp://127.0.0.1:5557"

/* HTTP: ingest's webhook listener and /healthz, every interface (HALO_INGEST_LISTEN). */
#define HALO_LISTEN_INGEST "0.0.0.0:8080"
/* HTTP: ingest's /metrics and /healthz, loopback only (HALO_INGEST_ADMIN_LISTEN; "off" disables). */
#define HALO_LISTEN_INGEST_ADMIN "127.0.0.1:8082"
/* HTTP: monitor's status page, loopback only (HALO_MONITOR_LISTEN). */
#define HALO_LISTEN_MONITOR "127.0.0.1:8081"

#endif
