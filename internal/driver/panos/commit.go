package panos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// commit commits the API administrator's changes and waits for the job;
// only result OK is success.
func (s *session) commit(ctx context.Context) error {
	id, err := s.c.commitPartial(ctx, s.user)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if id == "" {
		s.log.Debug("nothing to commit")
		return nil
	}
	j, err := s.waitJob(ctx, id)
	if err != nil {
		return fmt.Errorf("commit job %s: %w", id, err)
	}
	if j.Result != "OK" {
		return &JobError{ID: id, Result: j.Result, Details: j.Details}
	}
	if len(j.Warnings) > 0 {
		s.log.Info("commit warnings", "job", id, "warnings", strings.Join(j.Warnings, " "))
	}
	return nil
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
