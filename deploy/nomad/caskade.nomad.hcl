# Caskade with its backups (the sidecar pattern): before the server starts, a prestart task restores the store from
# S3 when the data directory is empty and a backup exists; the main task serves it; a poststart sidecar ships the
# log to S3 while it runs. No container image: the exec driver runs the tarball installed on every client in
# /usr/local/lib/caskade (deploy/nomad/README.md, "Install").
#
#   nomad var put nomad/jobs/caskade aws_access_key_id=AKIA... aws_secret_access_key=...
#   nomad job run deploy/nomad/caskade.nomad.hcl
job "caskade" {
  datacenters = ["dc1"]
  type        = "service"

  meta {
    # the destination the log is shipped to and restored from (a plain directory path works too)
    backup    = "s3://my-caskade-backups/prod"
    s3_region = "eu-west-1"
  }

  group "db" {
    # one writer: a store directory has one owner
    count = 1

    network {
      port "http" {
        static = 8479
      }
      port "resp" {
        static = 6479
      }
    }

    # the data directory outlives the allocation; declare it in the client's configuration:
    #   client { host_volume "caskade" { path = "/var/lib/caskade" read_only = false } }
    volume "data" {
      type      = "host"
      source    = "caskade"
      read_only = false
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "15s"
      mode     = "delay"
    }

    service {
      name     = "caskade"
      provider = "nomad"
      port     = "http"
      tags     = ["http", "metrics"]

      # 503 once the server begins to stop
      check {
        name     = "ready"
        type     = "http"
        path     = "/readyz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    service {
      name     = "caskade-resp"
      provider = "nomad"
      port     = "resp"
      tags     = ["redis"]
    }

    # 1. restore: does nothing when the store exists (a restart) or when there is no backup yet (the first start)
    task "restore" {
      driver = "exec"

      lifecycle {
        hook    = "prestart"
        sidecar = false
      }

      volume_mount {
        volume      = "data"
        destination = "/srv/caskade"
      }

      config {
        command = "/usr/local/lib/caskade/bin/caskade"
        args = [
          "restore", "--if-replica-exists", "--if-db-not-exists",
          "--from", "${NOMAD_META_backup}", "--s3-region", "${NOMAD_META_s3_region}",
          "--to", "/srv/caskade/store",
        ]
      }

      template {
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/caskade" }}AWS_ACCESS_KEY_ID={{ .aws_access_key_id }}
          AWS_SECRET_ACCESS_KEY={{ .aws_secret_access_key }}{{ end }}
        EOT
        destination = "secrets/aws.env"
        env         = true
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }

    # 2. the server: Redis protocol and HTTP on the client's address
    task "serve" {
      driver       = "exec"
      kill_timeout = "30s" # SIGTERM: stop accepting, finish in-flight commits, fsync, release the lock

      volume_mount {
        volume      = "data"
        destination = "/srv/caskade"
      }

      config {
        command = "/usr/local/lib/caskade/bin/caskade"
        # --insecure: no users, reachable from the cluster network; add users with --config (README, "Users")
        args = [
          "serve", "--data", "/srv/caskade/store",
          "--bind", "${NOMAD_IP_http}", "--http-port", "${NOMAD_PORT_http}", "--resp-port", "${NOMAD_PORT_resp}",
          "--insecure",
        ]
      }

      env {
        CASKADE_JAVA_OPTS = "-XX:MaxRAMPercentage=60"
      }

      resources {
        cpu    = 1000
        memory = 1024
      }
    }

    # 3. the shipper: reads the committed log from the same directory (no lock needed) and ships it to S3
    task "replicate" {
      driver       = "exec"
      kill_timeout = "60s" # SIGTERM: one last sync

      lifecycle {
        hook    = "poststart"
        sidecar = true
      }

      volume_mount {
        volume      = "data"
        destination = "/srv/caskade"
      }

      config {
        command = "/usr/local/lib/caskade/bin/caskade"
        args = [
          "replicate", "--data", "/srv/caskade/store",
          "--to", "${NOMAD_META_backup}", "--s3-region", "${NOMAD_META_s3_region}",
          "--sync-interval", "1s", "--status-interval", "5m",
        ]
      }

      template {
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/caskade" }}AWS_ACCESS_KEY_ID={{ .aws_access_key_id }}
          AWS_SECRET_ACCESS_KEY={{ .aws_secret_access_key }}{{ end }}
        EOT
        destination = "secrets/aws.env"
        env         = true
      }

      resources {
        cpu    = 300
        memory = 384
      }
    }
  }
}
