# An application with a local Caskade ambassador (the ambassador pattern): 'caskade serve --follow' runs beside the
# app in the same group, on 127.0.0.1. The app reads from the ambassador's live copy at local speed and writes
# through it; the ambassador forwards writes to the primary (the 'caskade' service of caskade.nomad.hcl, found in
# Nomad's service discovery) and answers once they are applied in its copy, so the app reads its own writes.
#
#   nomad job run deploy/nomad/caskade-ambassador.nomad.hcl
job "caskade-app" {
  datacenters = ["dc1"]
  type        = "service"

  meta {
    # the ambassador copies and serves only the keys under this prefix
    prefix = "app/"
  }

  group "app" {
    count = 2

    network {
      port "ambassador_http" {}
      port "ambassador_resp" {}
    }

    # the follower's copy stays in the allocation directory across restarts, and moves with the allocation
    ephemeral_disk {
      size    = 1024
      sticky  = true
      migrate = true
    }

    # the ambassador: prestart + sidecar, so it starts before the app and runs as long as the app does
    task "ambassador" {
      driver = "exec"

      lifecycle {
        hook    = "prestart"
        sidecar = true
      }

      config {
        command = "/usr/local/lib/caskade/bin/caskade"
        args = [
          "serve", "--follow", "${CASKADE_PRIMARY}", "--prefix", "${NOMAD_META_prefix}",
          "--data", "${NOMAD_ALLOC_DIR}/caskade",
          "--bind", "127.0.0.1", "--http-port", "${NOMAD_PORT_ambassador_http}",
          "--resp-port", "${NOMAD_PORT_ambassador_resp}",
        ]
      }

      # the primary's address from Nomad's service discovery; when it moves, the ambassador restarts and
      # serves its copy at once while it catches up
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
        cpu    = 300
        memory = 512
      }
    }

    # the application: anything that speaks HTTP or the Redis protocol to localhost; here a shell loop
    task "app" {
      driver = "exec"

      config {
        command = "/bin/sh"
        args = [
          "-c",
          <<-EOT
            while :; do
              curl -fsS -X PUT --data "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$CASKADE_URL/v1/kv/app/heartbeat/$NOMAD_ALLOC_ID" >/dev/null \
                || echo "write failed" >&2
              curl -fsS "$CASKADE_URL/v1/kv?prefix=app/heartbeat/" || echo "read failed" >&2
              echo
              sleep 10
            done
          EOT
        ]
      }

      env {
        CASKADE_URL = "http://127.0.0.1:${NOMAD_PORT_ambassador_http}"
        REDIS_URL   = "redis://127.0.0.1:${NOMAD_PORT_ambassador_resp}"
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
