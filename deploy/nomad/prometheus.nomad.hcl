# Prometheus for the metrics of caskade.nomad.hcl: scrapes /metrics of every Nomad service tagged "metrics"
# (the configuration is prometheus.yml, inlined below). Downloads the Prometheus release; no container image.
#
#   nomad job run deploy/nomad/prometheus.nomad.hcl      # then http://<client>:9090, e.g. caskade_revision
job "prometheus" {
  datacenters = ["dc1"]
  type        = "service"

  group "prometheus" {
    count = 1

    network {
      port "ui" {
        static = 9090
      }
    }

    ephemeral_disk {
      size   = 2048
      sticky = true
    }

    service {
      name     = "prometheus"
      provider = "nomad"
      port     = "ui"

      check {
        type     = "http"
        path     = "/-/ready"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "prometheus" {
      driver = "exec"

      artifact {
        source      = "https://github.com/prometheus/prometheus/releases/download/v3.5.0/prometheus-3.5.0.linux-amd64.tar.gz"
        destination = "local"
      }

      template {
        data        = <<-EOT
          global:
            scrape_interval: 15s

          scrape_configs:
            - job_name: caskade
              metrics_path: /metrics
              nomad_sd_configs:
                - server: http://127.0.0.1:4646
              relabel_configs:
                - source_labels: [__meta_nomad_tags]
                  regex: .*,metrics,.*
                  action: keep
                - source_labels: [__meta_nomad_service]
                  target_label: service
                - source_labels: [__meta_nomad_node_id]
                  target_label: node
        EOT
        destination = "local/prometheus.yml"
        change_mode = "signal"
        change_signal = "SIGHUP"
      }

      config {
        command = "local/prometheus-3.5.0.linux-amd64/prometheus"
        args = [
          "--config.file=local/prometheus.yml",
          "--storage.tsdb.path=${NOMAD_ALLOC_DIR}/prometheus",
          "--web.listen-address=:${NOMAD_PORT_ui}",
        ]
      }

      resources {
        cpu    = 300
        memory = 512
      }
    }
  }
}
