# The webhook adapter (the adapter pattern): an app that only takes HTTP callbacks gets every commit under a prefix
# as a JSON POST, in order, at least once, with an idempotency key. 'caskade webhook' watches the primary (the
# 'caskade' service of caskade.nomad.hcl, found in Nomad's service discovery) and posts to the app on localhost.
#
#   nomad job run deploy/nomad/caskade-webhook.nomad.hcl
job "caskade-webhook" {
  datacenters = ["dc1"]
  type        = "service"

  meta {
    prefix = "orders/"
  }

  group "orders" {
    count = 1

    network {
      port "receiver" {}
    }

    # the app: takes POSTs on 127.0.0.1 and prints them (here a few lines of Python; any HTTP endpoint will do)
    task "receiver" {
      driver = "exec"

      config {
        command = "/usr/bin/python3"
        args    = ["local/receiver.py"]
      }

      template {
        data        = <<-EOT
          import http.server, os

          class Hook(http.server.BaseHTTPRequestHandler):
              def do_POST(self):
                  body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                  print(self.headers.get("Idempotency-Key"), body.decode("utf-8", "replace"), flush=True)
                  self.send_response(204)
                  self.end_headers()

              def log_message(self, *args):
                  pass

          port = int(os.environ["NOMAD_PORT_receiver"])
          http.server.ThreadingHTTPServer(("127.0.0.1", port), Hook).serve_forever()
        EOT
        destination = "local/receiver.py"
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }

    # the adapter: poststart + sidecar, so the receiver is up first and the adapter lives as long as it does
    task "webhook" {
      driver = "exec"

      lifecycle {
        hook    = "poststart"
        sidecar = true
      }

      config {
        command = "/usr/local/lib/caskade/bin/caskade"
        args = [
          "webhook", "--server", "${CASKADE_PRIMARY}", "--prefix", "${NOMAD_META_prefix}",
          "--post-to", "http://127.0.0.1:${NOMAD_PORT_receiver}/hook",
        ]
      }

      template {
        data        = <<-EOT
          {{ range nomadService "caskade" }}CASKADE_PRIMARY=http://{{ .Address }}:{{ .Port }}
          {{ end }}
        EOT
        destination = "local/primary.env"
        env         = true
        change_mode = "restart"
      }

      resources {
        cpu    = 200
        memory = 384
      }
    }
  }
}
