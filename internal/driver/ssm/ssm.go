// Package ssm is the driver for Linux instances reached through AWS Systems
// Manager Run Command (route driver "linux-ssm", Ottr's linux-aws-ssm): the
// host logic of package linuxhost, the same as the linux driver's, with no
// SSH and no inbound port; the SSM agent on the instance runs the scripts.
// The driver finds the instance by its Name tag (EC2 DescribeInstances),
// runs the pre hooks, has openssl on the instance generate the key and the
// CSR, writes the chain next to the key (backing up the files it replaces
// as hidden files pruned to keep_backups), reloads the service, runs the
// post hooks, and can roll all of it back.
//
// Route options (Schema): linuxhost's cert_path, key_path, chain_path,
// reload_command, work_dir, owner, mode and keep_backups, and
//
//	region            AWS region of the instances (required)
//	endpoint          https URL used instead of AWS's SSM and EC2 endpoints
//	ca_file           PEM roots the endpoint's certificate may chain to, besides the system's
//	document          SSM document that runs shell scripts (default AWS-RunShellScript)
//	timeout           bound on each command, "10m" or seconds (default 10m; 30s to 48h)
//	instance_id_from  "name-tag" (default) or "asset-field"
//	name_tag          template of the Name tag (default {{.ShortName}}: system_name's first label);
//	                  fields .SystemName .ShortName .CommonName .DataCenter .IPAddress, {{label "key"}}
//	instance_id_field with asset-field: "system_name" or "labels.<key>" (default labels.instance_id)
//	pre_hooks_dir     hooks run before the CSR (default /opt/otter/hooks/pre; "" for none)
//	post_hooks_dir    hooks run after install and rollback (default /opt/otter/hooks/post; "" for none)
//
// Credentials: Username is the access key ID and Password the secret access
// key; with neither, the SDK's default chain (environment, shared files,
// instance or task role) is used.
//
// Each SSM command costs a round trip through AWS and a few seconds of
// polling, so each step is one command that does all it can: a rotation
// sends two. One runs the pre hooks and openssl; one installs: it backs up
// the files, writes the chain (carried in a here-document: SSM commands
// have no standard input), moves the key into place, reloads, runs the post
// hooks, and puts the backups back (and reloads again) if any of that
// fails. Rollback is one command too. Hooks are the executable *.sh files
// of their directory, run in name order with OTTR_HOOK_PHASE,
// OTTR_CERT_PATH, OTTR_KEY_PATH and OTTR_CHAIN_PATH set; the first that
// fails fails the step, with its name and output. Commands are polled with
// GetCommandInvocation, at intervals growing from Config.PollInterval,
// until SSM reports a final status; an abandoned command is cancelled.
// Check (ottr device check) asks SSM for the agent
// (DescribeInstanceInformation) and sends one read-only command, the check
// script of package hostcheck.
package ssm

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost"
)

// Name is the name routes use for this driver.
const Name = "linux-ssm"

// Config configures the driver. The zero value is ready to use.
type Config struct {
	// Logger receives debug lines about each step; never secrets.
	// Default: discard.
	Logger *slog.Logger
	// Now names backups. Default: time.Now.
	Now func() time.Time
	// PollInterval is the first wait between GetCommandInvocation calls;
	// each wait doubles it, up to MaxPollInterval. Defaults 250ms and 5s:
	// most scripts finish within a second or two, and slower ones should
	// not spend the account's API rate on polls.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// HTTPTimeout bounds each AWS API call. Default: 30s.
	HTTPTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.MaxPollInterval <= 0 {
		c.MaxPollInterval = 5 * time.Second
	}
	c.MaxPollInterval = max(c.MaxPollInterval, c.PollInterval)
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = 30 * time.Second
	}
	return c
}

// Driver rotates certificates on Linux instances through AWS SSM.
type Driver struct {
	cfg Config
}

var _ driver.Driver = (*Driver)(nil)

// New returns the linux-ssm driver.
func New(cfg Config) *Driver {
	return &Driver{cfg: cfg.withDefaults()}
}

// Name returns "linux-ssm".
func (d *Driver) Name() string { return Name }

// Capabilities are the host logic's (linuxhost.Capabilities).
func (d *Driver) Capabilities() driver.Capabilities { return linuxhost.Capabilities() }

// Schema returns the driver's route options (the package's Schema).
func (d *Driver) Schema() driver.Schema { return Schema() }

// ValidateOptions checks a route's options; the error names every bad option
// and the rule it breaks.
func (d *Driver) ValidateOptions(options map[string]any) error {
	_, err := parseOptions(options)
	return err
}

// Open builds the AWS clients for the route and finds the instance: by its
// Name tag (one running instance must have it) or from the asset.
func (d *Driver) Open(ctx context.Context, t driver.Target, c driver.Credentials) (driver.Session, error) {
	raw, err := linuxhost.ForAsset(t.Options, t.Asset)
	if err != nil {
		return nil, wrapf("options", err)
	}
	opts, err := parseOptions(raw)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	client, err := newAWSClient(ctx, opts, c, d.cfg.HTTPTimeout)
	if err != nil {
		return nil, wrapf("open", err)
	}
	id, err := d.findInstance(ctx, client, opts, t.Asset)
	if err != nil {
		return nil, wrapf("open", err)
	}
	log := d.cfg.Logger.With("driver", Name, "instance", id, "asset", t.Asset.SystemName)
	runner := &commandRunner{drv: d, client: client, opts: opts, instanceID: id, log: log}
	return &session{
		Host: linuxhost.New(linuxhost.Config{
			Runner: runner, Options: &opts.Options, Name: "ssm", Noun: "instance", DeviceKey: "ssm " + id,
			ReloadInScript: true, Hooks: hooks{opts: opts, log: log},
			Now: d.cfg.Now, Logger: log,
		}),
		commandRunner: runner,
	}, nil
}

// session works on one instance: the host logic, its scripts sent as SSM
// commands. It holds no connection.
type session struct {
	*linuxhost.Host
	*commandRunner
}

var _ driver.Session = (*session)(nil)

// Close does nothing: SSM commands leave nothing open.
func (s *session) Close() error { return nil }

// handleInstanceID is the key of the Installed handle that names the
// instance the backups are on.
const handleInstanceID = "instance_id"

// Install is the host logic's (linuxhost.Host.Install), the handle naming
// the instance.
func (s *session) Install(ctx context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	installed, err := s.Host.Install(ctx, chain)
	if installed != nil {
		installed[handleInstanceID] = s.instanceID
	}
	return installed, err
}

// Rollback is the host logic's (linuxhost.Host.Rollback), refused for a
// handle of another instance: its backups are there.
func (s *session) Rollback(ctx context.Context, i driver.Installed) error {
	if id := i[handleInstanceID]; id != "" && id != s.instanceID {
		return fmt.Errorf("ssm: rollback: the install was on instance %s, but this session reaches %s: "+
			"its backups are on %s", id, s.instanceID, id)
	}
	return s.Host.Rollback(ctx, i)
}
