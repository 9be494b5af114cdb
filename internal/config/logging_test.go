package config

import (
	"log/slog"
	"testing"
)

func TestLogAndMetricsSettings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "accepts json logs at debug and a worker listener on every address",
			yaml: "log:\n  format: json\n  level: debug\nmetrics:\n  worker_listen: \":9464\"\n",
		},
		{
			name: "rejects an unknown log format naming its line",
			yaml: "log:\n  level: info\n  format: logfmt\n",
			want: []string{`ottr.yaml:3: log.format: "logfmt" is not a log format: use text or json`},
		},
		{
			name: "rejects an unknown log level naming its line",
			yaml: "log:\n  level: verbose\n",
			want: []string{`ottr.yaml:2: log.level: "verbose" is not a log level: use debug, info, warn or error`},
		},
		{
			name: "rejects a worker listener without a port",
			yaml: "metrics:\n  worker_listen: 127.0.0.1\n",
			want: []string{`ottr.yaml:2: metrics.worker_listen: "127.0.0.1" must be host:port, such as 127.0.0.1:9464`},
		},
		{
			name: "rejects a worker listener port out of range",
			yaml: "metrics:\n  worker_listen: 127.0.0.1:70000\n",
			want: []string{`ottr.yaml:2: metrics.worker_listen: "127.0.0.1:70000" has no valid port: use 1 to 65535 (0 picks a free one)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, tt.yaml, tt.want...)
		})
	}
}

func TestLogAndMetricsDefaults(t *testing.T) {
	c, err := Parse([]byte(""), "ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Format != "text" || c.Log.Level != "warn" || c.Metrics.WorkerListen != "127.0.0.1:9464" {
		t.Errorf("defaults: log %+v, metrics %+v; want text, warn and 127.0.0.1:9464 as ottr.example.yaml says", c.Log, c.Metrics)
	}
}

func TestParseLogLevel(t *testing.T) {
	for name, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn, "Error": slog.LevelError} {
		if got, err := ParseLogLevel(name); err != nil || got != want {
			t.Errorf("ParseLogLevel(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "warning", "trace", "info+2"} {
		if _, err := ParseLogLevel(bad); err == nil {
			t.Errorf("ParseLogLevel(%q) accepted it", bad)
		}
	}
}
