package panos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Commit commands. A partial commit takes only the named administrator's
// changes (PAN-OS XML API documentation, "Commit": type=commit&action=partial
// with <commit><partial><admin><member>). After a load config the device
// accepts only a full commit with force (pan-os-python PR #604; the
// documentation's "Force Commit" is <commit><force></force></commit>).
func partialCommitCommand(admin string) string {
	return "<commit><partial><admin><member>" + escape(admin) + "</member></admin></partial></commit>"
}

const forceCommitCommand = "<commit><force></force></commit>"

// commitMine commits the API administrator's changes and waits for the
// job; only result OK is success. When the device has nothing to commit it
// returns the device's words and no error: whether that is right depends on
// the caller.
func (s *session) commitMine(ctx context.Context) (nothing string, err error) {
	return s.runCommit(ctx, "partial", partialCommitCommand(s.user))
}

// commitAll commits the whole candidate configuration with force: every
// administrator's pending changes go live with it.
func (s *session) commitAll(ctx context.Context) (nothing string, err error) {
	return s.runCommit(ctx, "", forceCommitCommand)
}

func (s *session) runCommit(ctx context.Context, action, cmd string) (string, error) {
	answer, err := s.c.commit(ctx, action, cmd)
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	if answer.job == "" {
		s.log.Debug("nothing to commit", "answer", answer.nothing)
		return answer.nothing, nil
	}
	j, err := s.waitJob(ctx, answer.job)
	if err != nil {
		return "", fmt.Errorf("commit job %s: %w", answer.job, err)
	}
	if j.Result != "OK" {
		return "", &JobError{ID: answer.job, Result: j.Result, Details: j.Details}
	}
	if len(j.Warnings) > 0 {
		s.log.Info("commit warnings", "job", answer.job, "warnings", strings.Join(j.Warnings, " "))
	}
	return "", nil
}

// waitJob polls a job until it finishes, waiting longer between polls each
// time. A few failed polls in a row are tolerated: committing a new
// management certificate restarts the device's web server.
func (s *session) waitJob(ctx context.Context, id string) (*job, error) {
	timeout := s.opts.CommitTimeout
	if timeout == 0 {
		timeout = s.drv.cfg.CommitTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// stopped explains an end caused by the commit timeout rather than by
	// the caller.
	stopped := func(err error) error {
		if parent.Err() == nil && ctx.Err() != nil {
			return fmt.Errorf("not finished after %s (commit_timeout): %w", timeout, ctx.Err())
		}
		return err
	}
	wait := s.drv.cfg.PollInterval
	const maxFailures = 5
	failures := 0
	for {
		j, err := s.c.job(ctx, id)
		var apiErr *APIError
		switch {
		case err == nil && j.Status == "FIN":
			return j, nil
		case err == nil:
			failures = 0
			s.log.Debug("commit in progress", "job", id, "status", j.Status, "progress", j.Progress)
		case ctx.Err() != nil:
			return nil, stopped(err)
		case errors.As(err, &apiErr):
			return nil, err
		default:
			failures++
			if failures >= maxFailures {
				return nil, fmt.Errorf("%d polls in a row failed, the last with: %w", failures, err)
			}
			s.log.Debug("poll failed; retrying", "job", id, "err", err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, stopped(ctx.Err())
		case <-timer.C:
		}
		wait = min(wait*2, s.drv.cfg.MaxPollInterval)
	}
}
