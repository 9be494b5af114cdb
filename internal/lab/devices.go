package lab

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/driver/junos/junoslab"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
	"github.com/ottr-go/ottr/internal/verify"
)

// Device is one emulated device of the lab, of any platform.
type Device struct {
	// Platform is the lab platform that started it: the asset's
	// host_platform.
	Platform string
	// Emulator is the running emulator: *linuxlab.Host for linux and script,
	// *panoslab.Device, *bigiplab.Device, *lighthouselab.Device or *junoslab.Device;
	// tests reach into it by type assertion.
	Emulator Emulator

	name string
}

// Name returns the device's name: its asset's system_name and common_name.
func (d *Device) Name() string { return d.name }

// TLSAddr returns where the device serves the certificate ottr rotates: the
// asset's ip_address and port.
func (d *Device) TLSAddr() string { return d.Emulator.TLSAddr() }

// PrivateKeyExported reports whether a private key ever left the device.
func (d *Device) PrivateKeyExported() bool { return d.Emulator.PrivateKeyExported() }

// ServedChain returns the chain the device presents now, leaf first: from
// the emulator's state where it offers it, else from a TLS handshake with
// the device's name as SNI, as verification sees it.
func (d *Device) ServedChain(ctx context.Context) ([]*x509.Certificate, error) {
	if e, ok := d.Emulator.(interface{ ServedChain() []*x509.Certificate }); ok {
		return e.ServedChain(), nil
	}
	chain, err := verify.Fetch(ctx, d.TLSAddr(), d.name, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("lab: %s: %w", d.name, err)
	}
	return chain, nil
}

// Close stops the device; closing it again does nothing.
func (d *Device) Close() error { return d.Emulator.Close() }

// DeviceName returns the name of device i (0-based) of a platform: Linux
// hosts are host-0001.lab.ottr.test and so on, as they always were; other
// devices carry their platform, as in panos-0002.lab.ottr.test.
func DeviceName(platform string, i int) string {
	if platform == PlatformLinux {
		return HostName(i)
	}
	return fmt.Sprintf("%s-%04d.%s", platform, i+1, DeviceZone)
}

// startDevices starts the devices in parallel, spread round-robin over the
// platforms, registers their DNS names and delegations, and writes
// known_hosts.
func (l *Lab) startDevices(ctx context.Context, o Options, ps []platform) error {
	delegations, err := dnsdelegate.New(map[string]string{DeviceZone: DelegateZone})
	if err != nil {
		return err
	}
	// Every device on sockets the fleet shares, one per port: a fleet of
	// thousands would otherwise run out of file descriptors.
	l.sockets = newSockets(ctx)
	subnet := o.Subnet
	if subnet == 0 {
		subnet = defaultSubnet()
	}
	for attempt := 1; ; attempt++ {
		if last := subnet + (o.Devices-1)/hostsPerSubnet; last > 255 {
			return fmt.Errorf("lab: %d devices from 127.%d.0.0 would need 127.%d.0.0, past 127.255: pass a lower subnet", o.Devices, subnet, last)
		}
		err := l.startDevicesIn(ctx, o.Devices, subnet, ps, delegations)
		if err == nil {
			break
		}
		// Another lab (a parallel test binary, say) holds this subnet:
		// move to the next one, unless the caller chose it.
		if o.Subnet != 0 || attempt == 10 || !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
		subnet = 100 + (subnet-100+1)%150
	}
	return l.writeKnownHosts()
}

// startDevicesIn starts n devices in 127.subnet.0.0/16; on failure it stops
// the ones it started.
func (l *Lab) startDevicesIn(ctx context.Context, n, subnet int, ps []platform, d *dnsdelegate.Delegations) error {
	l.Devices = make([]*Device, n)
	l.Assets = make([]asset.Asset, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = l.startDevice(ctx, i, subnet, &ps[i%len(ps)], d)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		l.closeDevices()
		l.Devices, l.Assets = nil, nil
		return err
	}
	l.Hosts = nil
	for _, dev := range l.Devices {
		if h, ok := dev.Emulator.(*linuxlab.Host); ok {
			l.Hosts = append(l.Hosts, h)
		}
	}
	return nil
}

func (l *Lab) startDevice(ctx context.Context, i, subnet int, p *platform, d *dnsdelegate.Delegations) error {
	name, ip := DeviceName(p.name, i), HostIP(subnet, i)
	emu, err := p.start(ctx, &startEnv{lab: l, platform: p}, name, ip)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("lab: %w (is %s in use by another lab? pass another subnet)", err, ip)
	case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("lab: %s: %w: the lab has used up the open files it may hold; raise the limit (ulimit -n) or start fewer devices", name, err)
	case err != nil:
		return fmt.Errorf("lab: %w", err)
	}
	l.Devices[i] = &Device{Platform: p.name, Emulator: emu, name: name}
	rec, err := d.Record(name)
	if err != nil {
		return err
	}
	// Set, not add: a retry in another subnet replaces the address.
	for _, rr := range []string{
		fmt.Sprintf("%s. 60 IN A %s", name, ip),
		rec.ZoneLine(),
	} {
		parsed, err := dns.NewRR(rr)
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		if err := l.DNS.SetRecord(parsed); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	l.Assets[i] = asset.Asset{
		SystemName:             name,
		CommonName:             name,
		SubjectAlternativeName: []string{name},
		CertificateAuthority:   CAName,
		DataCenter:             fmt.Sprintf("lab%d", i%2+1),
		DeviceModel:            p.model,
		HostPlatform:           p.name,
		IPAddress:              ip,
		Origin:                 "lab",
		OSVersion:              p.osVersion,
		Port:                   port(emu.TLSAddr()),
		Credentials:            p.credentialsName(),
		KeyType:                p.keyType,
	}
	return nil
}

// port returns the port of addr, host:port; 0 when it has none.
func port(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// namedLogin reports whether the platform's devices have a login of their
// own rather than the lab's SSH key.
func (p *platform) namedLogin() bool { return p.username != "" || p.accessKeyLogin }

// credentialsName is the credentials entry the platform's assets name;
// empty means "default", the lab's SSH login.
func (p *platform) credentialsName() string {
	if !p.namedLogin() {
		return ""
	}
	return p.name
}

// writeKnownHosts pins the SSH host key of every device ottr reaches over
// SSH: the Linux hosts (linux and script) and the JunOS devices' NETCONF.
func (l *Lab) writeKnownHosts() error {
	var known strings.Builder
	line := func(addr string, key ssh.PublicKey) {
		known.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n")
	}
	for _, dev := range l.Devices {
		switch e := dev.Emulator.(type) {
		case *linuxlab.Host:
			line(e.SSHAddr(), e.HostKey())
		case *junoslab.Device:
			line(e.Addr(), e.HostKey())
		}
	}
	return os.WriteFile(l.path("known_hosts"), []byte(known.String()), 0o600)
}

// closeDevices stops every started device, in parallel.
func (l *Lab) closeDevices() {
	var wg sync.WaitGroup
	for _, d := range l.Devices {
		if d == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Close() }()
	}
	wg.Wait()
}
