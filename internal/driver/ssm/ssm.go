// Package ssm is the driver for Linux instances reached through AWS Systems
// Manager Run Command (route driver "linux-ssm", Ottr's linux-aws-ssm): no
// SSH, no inbound port; the SSM agent on the instance runs the driver's
// scripts. It finds the instance by its Name tag (EC2 DescribeInstances),
// runs the pre hooks, has openssl on the instance generate the key and the
// CSR, writes the chain next to the key, reloads the service, runs the post
// hooks, and can roll all of it back.
//
// Route options:
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
//	cert_path         absolute path that receives the leaf and its chain (required)
//	key_path          absolute path that receives the new private key (required)
//	chain_path        absolute path that receives the chain without the leaf
//	reload_command    command that loads the new files (required)
//	work_dir          directory for the staged key (default: key_path's directory)
//	owner             "user" or "user:group" for the installed files
//	mode              octal mode of the installed key, as a string (default "0600")
//
// Credentials: Username is the access key ID and Password the secret access
// key; with neither, the SDK's default chain (environment, shared files,
// instance or task role) is used.
//
// A rotation sends two commands: one runs the pre hooks and openssl (the key
// is generated into work_dir as <key_path's name>.ottr-new with umask 077,
// its CSR beside it; only the CSR is printed), one installs: it backs up the
// files as <path>.ottr-backup-<UTC timestamp>, writes the chain, moves the
// key into place, reloads, runs the post hooks, and puts the backup back
// (and reloads again) if any of that fails. Rollback is one command too.
// Hooks are the executable *.sh files of their directory, run in name
// order with OTTR_HOOK_PHASE, OTTR_CERT_PATH, OTTR_KEY_PATH and
// OTTR_CHAIN_PATH set; the first that fails fails the step, with its name
// and output. Commands are polled with GetCommandInvocation, at intervals
// growing from Config.PollInterval, until SSM reports a final status; an
// abandoned command is cancelled. Check (ottr device check) asks SSM for
// the agent (DescribeInstanceInformation) and sends one read-only command,
// the linux driver's check script (package hostcheck).
package ssm

import (
	"context"
	"log/slog"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
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

// Capabilities: openssl on the instance generates keys of every supported
// type, and the driver keeps backups it can roll back to.
func (d *Driver) Capabilities() driver.Capabilities {
	return driver.Capabilities{
		OnDeviceKey: true,
		Rollback:    true,
		SANs:        true,
		KeyTypes:    asset.KeyTypes(),
	}
}

// ValidateOptions checks a route's options; the error names every bad option
// and the rule it breaks.
func (d *Driver) ValidateOptions(options map[string]any) error {
	if _, err := parseOptions(options); err != nil {
		return wrapf("options", err)
	}
	return nil
}

// Open builds the AWS clients for the route and finds the instance: by its
// Name tag (one running instance must have it) or from the asset.
func (d *Driver) Open(ctx context.Context, t driver.Target, c driver.Credentials) (driver.Session, error) {
	opts, err := parseOptions(t.Options)
	if err != nil {
		return nil, wrapf("options", err)
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
	return &session{
		drv:        d,
		client:     client,
		opts:       opts,
		instanceID: id,
		log:        d.cfg.Logger.With("driver", Name, "instance", id, "asset", t.Asset.SystemName),
	}, nil
}

// session works on one instance. It holds no connection: every step is
// one or more SSM commands.
type session struct {
	drv        *Driver
	client     *awsClient
	opts       *options
	instanceID string
	log        *slog.Logger
}

var _ driver.Session = (*session)(nil)

// Close does nothing: SSM commands leave nothing open.
func (s *session) Close() error { return nil }
