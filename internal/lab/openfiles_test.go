package lab

import (
	"errors"
	"strings"
	"testing"
)

func TestOpenFilesLimitRaisesTheSoftLimitOnlyWhenNeeded(t *testing.T) {
	for _, tc := range []struct {
		name             string
		need, soft, hard uint64
		want             uint64
		wantErr          bool
		wantInErr        []string
	}{
		{name: "a soft limit that is enough stays", need: 1000, soft: 1024, hard: 4096, want: 1024},
		{name: "a soft limit of exactly the need stays", need: 1024, soft: 1024, hard: 4096, want: 1024},
		{name: "a soft limit too low is raised to the hard limit", need: 2000, soft: 1024, hard: 4096, want: 4096},
		{name: "a need of exactly the hard limit is met by raising", need: 4096, soft: 1024, hard: 4096, want: 4096},
		{name: "a hard limit too low is an error saying how to raise it", need: 30000, soft: 20000, hard: 20000, wantErr: true,
			wantInErr: []string{"30000 open files", "at most 20000", "ulimit -n 30000", "LimitNOFILE=30000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := openFilesLimit(tc.need, tc.soft, tc.hard)
			if tc.wantErr {
				if !errors.Is(err, errTooFewOpenFiles) {
					t.Fatalf("openFilesLimit(%d, %d, %d) = %d, %v; want an error", tc.need, tc.soft, tc.hard, got, err)
				}
				for _, want := range tc.wantInErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("openFilesLimit(%d, %d, %d) = %d, %v; want %d", tc.need, tc.soft, tc.hard, got, err, tc.want)
			}
		})
	}
}

func TestOpenFilesNeededGrowsWithRotationsNotWithDevices(t *testing.T) {
	small := OpenFilesNeeded(Options{Devices: 10, Concurrency: 50})
	for _, platforms := range [][]string{{PlatformLinux}, KnownPlatforms()} {
		if big := OpenFilesNeeded(Options{Devices: 100000, Platforms: platforms, Concurrency: 50}); big != small {
			t.Errorf("100,000 devices (%v) need %d open files, 10 need %d; want the same: they share their sockets", platforms, big, small)
		}
	}
	if more := OpenFilesNeeded(Options{Devices: 10, Concurrency: 500}); more <= small {
		t.Errorf("500 rotations at once need %d open files, 50 need %d; want more", more, small)
	}
	if apart := OpenFilesNeeded(Options{Devices: 10, Concurrency: 500, RotatesElsewhere: true}); apart >= OpenFilesNeeded(Options{Devices: 10, Concurrency: 500}) {
		t.Errorf("a lab whose fleet ottr rotates from another process needs %d open files; want fewer than when it holds both ends", apart)
	}
}
