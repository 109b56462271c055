/**
 * The nginx configuration the benchmarks run their peer with: its own prefix under a temp folder,
 * no access log, sendfile on, keep-alive without a request limit. `tuned` adds the open_file_cache
 * lines nginx's users set in production (descriptors and stat results kept for 20 s, rechecked every
 * second): that is the nginx to beat. `http2` makes the port speak h2c only (nginx 1.22 reads the
 * connection preface at once, with no HTTP/1.1 on that port): the peer for h2load.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NginxOptions {
  tuned?: boolean;
  http2?: boolean;
}

/** Writes nginx.conf into `prefix` and returns its path. */
export function nginxConfig(prefix: string, root: string, port: number, workers: number, options: NginxOptions = {}): string {
  const { tuned = false, http2 = false } = options;
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const config = `worker_processes ${workers};
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log error;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 5s;
  keepalive_requests 1000000;
${tuned ? '  open_file_cache max=1000 inactive=20s;\n  open_file_cache_valid 1s;\n' : ''}  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port}${http2 ? ' http2' : ''};
    root ${root};
  }
}
`;
  const path = join(prefix, 'nginx.conf');
  writeFileSync(path, config);
  return path;
}
