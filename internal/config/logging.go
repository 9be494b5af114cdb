package config

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// Log formats.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// Defaults of the log and metrics sections.
const (
	defaultLogFormat     = LogFormatText
	defaultLogLevel      = "warn"
	defaultWorkerMetrics = "127.0.0.1:9464"
)

// logLevels are the levels ottr logs at, by name.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// ParseLogLevel returns the level named s: debug, info, warn or error, in
// any case. The error says which names there are.
func ParseLogLevel(s string) (slog.Level, error) {
	if l, ok := logLevels[strings.ToLower(strings.TrimSpace(s))]; ok {
		return l, nil
	}
	return 0, fmt.Errorf("%q is not a log level: use debug, info, warn or error", s)
}

// CheckLogFormat returns an error unless s is text or json.
func CheckLogFormat(s string) error {
	switch s {
	case LogFormatText, LogFormatJSON:
		return nil
	}
	return fmt.Errorf("%q is not a log format: use text or json", s)
}

func (c *Config) logDefaults() {
	if c.Log.Format == "" {
		c.Log.Format = defaultLogFormat
	}
	if c.Log.Level == "" {
		c.Log.Level = defaultLogLevel
	}
	if c.Metrics.WorkerListen == "" {
		c.Metrics.WorkerListen = defaultWorkerMetrics
	}
}

func (k *checker) checkLogAndMetrics() {
	if err := CheckLogFormat(k.c.Log.Format); err != nil {
		k.add("log.format", "%v", err)
	}
	if _, err := ParseLogLevel(k.c.Log.Level); err != nil {
		k.add("log.level", "%v", err)
	}
	if reason := CheckListenAddress(k.c.Metrics.WorkerListen); reason != "" {
		k.add("metrics.worker_listen", "%q %s", k.c.Metrics.WorkerListen, reason)
	}
}

// CheckListenAddress returns why s is not an address to listen on
// (host:port, the host optional), or "".
func CheckListenAddress(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "must be host:port, such as " + defaultWorkerMetrics
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "has no valid port: use 1 to 65535 (0 picks a free one)"
	}
	return ""
}
