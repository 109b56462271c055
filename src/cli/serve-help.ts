/** `sockhttp serve --help`: every flag, in the order a user meets them. */
export const SERVE_HELP = `Usage: sockhttp serve [DIR] [options]

Serves the files of DIR (default: the current folder) over HTTP/1.1 and HTTP/2.

Options:
  -p, --port PORT          port to listen on (default: $PORT, else 13331; 0 takes a free port)
      --host HOST          address to listen on (default: 127.0.0.1; 0.0.0.0 for every network)
      --cache SECONDS      Cache-Control: public, max-age=SECONDS (default: no-cache, i.e. always
                           revalidate, which costs a 304 and never shows a stale file)
      --no-listing         no HTML listing for folders without index.html (404 instead)
      --dotfiles MODE      allow | deny: may names starting with "." be served and listed (default: deny)
      --symlinks MODE      follow-inside | deny: serve symlinks whose target lies inside DIR, or
                           no path through a symlink at all (default: follow-inside)
      --spa [FILE]         single-page app: a navigation to a path that matches no file gets FILE
                           (default index.html; --spa=FILE, or FILE ending in .html) with Cache-Control:
                           no-cache; paths with a file extension, and non-HTML requests, get a real 404
      --no-compress        no gzip/brotli (precompressed .br/.gz siblings and on the fly)
      --cors               Access-Control-Allow-Origin: * and answers to preflight OPTIONS
  -H, --header 'N: V'      set a field on every response, replacing the server's own (repeatable)
      --watch              reload open pages when a file under DIR changes
      --tls-cert FILE      serve HTTPS with this PEM certificate (needs --tls-key)
      --tls-key FILE       the PEM private key of --tls-cert
      --http2              HTTP/2 (the default): over TLS when ALPN picks h2, and on a plain port for
                           clients with prior knowledge (curl --http2-prior-knowledge)
      --no-http2           HTTP/1.1 only
  -w, --workers N|auto     N processes sharing the port (auto: one per CPU; default: 1)
      --max-connections N  connections at once; more are closed at once (default: 10000)
      --headers-timeout S  a request head must arrive within S seconds of its first byte, and a
                           TLS handshake within S seconds of the connection (default: 10)
      --keep-alive-timeout S  an idle connection closes after S seconds (default: 5)
      --stall-timeout S    a request or response with no progress for S seconds ends (default: 30)
      --trace              show every byte of every connection on stderr, each line labelled
                           with its RFC 9112 element (request-line, field-line, chunk-size…), and
                           over HTTP/2 each frame with its fields and how HPACK coded them
      --trace-file FILE    write the trace to FILE instead (appended)
      --trace-body N       show the first N bytes of each body in the trace (default: 0)
      --log-format FORMAT  common | combined | json access log on stdout (default: common); every
                           other message goes to stderr, so stdout carries the log alone
      --log-file FILE      append the access log to FILE instead; SIGUSR1 reopens it (logrotate)
  -q, --quiet              no access log
      --etag MODE          mtime | content: ETags from modification time and size (default), or from
                           a hash of the bytes, equal on every replica serving a copy of DIR
      --health PATH        answer PATH (e.g. /healthz) with 200 while serving, 503 while draining;
                           not logged
      --drain-delay S      on SIGTERM, answer the health path 503 for S seconds before closing
                           (default: 2 with --health, else 0)
      --metrics PATH       Prometheus metrics at PATH (e.g. /metrics) on the same port; not logged
      --metrics-port PORT  the metrics on a port of their own instead (PATH default /metrics); under
                           --workers the primary serves them, the sum of every worker's
      --metrics-host HOST  the address of --metrics-port (default: 127.0.0.1)
      --fd N               serve on listening socket N passed down by a supervisor (systemd's
                           LISTEN_FDS is read without it); --host and --port are then unused
  -h, --help               this help

Site options (serve.json and what static-server users expect):
      --config FILE        read the serve.json rules from FILE (default: DIR/serve.json if present);
                           flags override it; the file itself is never served
      --no-clean-urls      /about does not serve about.html
      --auth USER:PASS     HTTP Basic authentication (repeatable)
      --auth-file FILE     users from an htpasswd file (bcrypt or SHA-crypt hashes)
      --isolation          cross-origin isolation: COOP same-origin, COEP require-corp
      --https              HTTPS with a self-signed certificate for localhost and this machine's
                           addresses, kept in the user's cache folder (or --tls-cert/--tls-key)
      --archives           offer each listed folder as a streamed .tar.gz and .zip
      --open               open the server's URL in the browser

Stop it with Ctrl-C (SIGINT) or SIGTERM: in-flight responses finish first. SIGHUP reloads
serve.json, the TLS certificate and key and the file caches without dropping a connection
(under --workers, workers are replaced one at a time). docs/deploy.md shows systemd, nginx,
HAProxy and Kubernetes set-ups.`;
