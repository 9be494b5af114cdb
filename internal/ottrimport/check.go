package ottrimport

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/route"
)

// Checked is a plan checked against the configuration it joins.
type Checked struct {
	// Merged is the configuration's text with the section merged in, and
	// Config that text as ottr loads it.
	Merged []byte
	Config *config.Config
	// Table is its routing table.
	Table *route.Table
	// Assets are the plan's assets, normalised.
	Assets []asset.Asset
	// Unrouted are the assets no route takes (their platform has routes,
	// but not for their os_version, CA or model), as "name (why)": ottr
	// shows them as "no route", as Ottr skipped them.
	Unrouted []string
}

// Check merges the plan's section into the configuration at configPath
// (whose text is base) and checks the result the way ottr will load it:
// the configuration parses, compile (app.CompileRoutes) takes its routes
// with their drivers' options, every
// asset is valid under it, and the account belongs to the CA profile named
// ca. Every problem is reported.
func (p *Plan) Check(configPath string, base, section []byte, compile func(*config.Config) (*route.Table, error), ca string) (*Checked, error) {
	merged, err := Merge(base, section)
	if err != nil {
		return nil, &Problems{Errs: []error{err}}
	}
	cfg, err := config.Parse(merged, configPath)
	if err != nil {
		return nil, &Problems{Errs: []error{fmt.Errorf("%s with the imported section does not load (its lines count in the config with the section merged in):\n%w", configPath, err)}}
	}
	table, err := compile(cfg)
	if err != nil {
		return nil, &Problems{Errs: []error{fmt.Errorf("%s with the imported section: %w", configPath, err)}}
	}
	c := &Checked{Merged: merged, Config: cfg, Table: table}
	var problems []error
	rules := asset.Rules{Platforms: table.Platforms(), CAs: cfg.CANames(), Zones: cfg.ManagedZones()}
	seen := map[string]string{}
	for _, it := range p.Items {
		a := it.Asset
		asset.Normalize(&a)
		if err := asset.Validate(a, rules); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", it.name(), err))
			continue
		}
		if first, dup := seen[a.SystemName]; dup {
			problems = append(problems, fmt.Errorf("%s: system_name %s repeats %s", it.Where, a.SystemName, first))
		}
		seen[a.SystemName] = it.Where
		if _, _, ok := table.Match(a); !ok {
			c.Unrouted = append(c.Unrouted, fmt.Sprintf("%s (platform %s, os_version %s, %s, model %s)",
				a.SystemName, a.HostPlatform, a.OSVersion, a.CertificateAuthority, a.DeviceModel))
		}
		c.Assets = append(c.Assets, a)
	}
	if p.Account != nil {
		profile, ok := cfg.CertificateAuthorities[ca]
		switch {
		case !ok:
			problems = append(problems, fmt.Errorf("--ca %s: no such CA profile in the config (it has: %s)", ca, slices.Sorted(maps.Keys(cfg.CertificateAuthorities))))
		default:
			if err := p.Account.CheckCA(profile.Directory); err != nil {
				problems = append(problems, fmt.Errorf("acme.sh account: %w", err))
			}
		}
	}
	if len(problems) > 0 {
		return nil, &Problems{Errs: problems}
	}
	return c, nil
}

// ErrProblems reports whether err is an import's list of problems.
func ErrProblems(err error) bool {
	var p *Problems
	return errors.As(err, &p)
}
