package junoslab

import (
	"crypto/ecdsa"
	"crypto/md5" //nolint:gosec // JunOS shows an MD5 fingerprint beside the SHA-1 one.
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // display only
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// getSoftwareInformation is `show version`: the host name, model and
// release (<junos-version>, which PyEZ's facts read since 15.1).
func (d *Device) getSoftwareInformation(_ *session, _ *node) response {
	return response{body: []*node{newNode("software-information",
		leaf("host-name", strings.SplitN(d.cfg.Name, ".", 2)[0]),
		leaf("product-model", d.cfg.Model),
		leaf("product-name", d.cfg.Model),
		leaf("junos-version", d.cfg.Version),
	)}}
}

// getLocalCertificate is `show security pki local-certificate
// (certificate-id ID | system-generated) [detail]`.
func (d *Device) getLocalCertificate(_ *session, op *node) response {
	id := SystemGeneratedID
	if op.child("system-generated") == nil {
		var bad *response
		if id, bad = d.certificateID(op); bad != nil {
			return *bad
		}
	}
	d.mu.Lock()
	cert, ok := d.localCerts[id]
	d.mu.Unlock()
	if !ok {
		return d.pkiFailure("Local certificate %s does not exist", id)
	}
	return response{body: []*node{certificateInfoList(id, cert, op.child("detail") != nil)}}
}

// getCACertificate is `show security pki ca-certificate ca-profile P
// [detail]`.
func (d *Device) getCACertificate(_ *session, op *node) response {
	profile := op.childText("ca-profile")
	d.mu.Lock()
	cert, ok := d.caCerts[profile]
	d.mu.Unlock()
	if !ok {
		return d.pkiFailure("CA certificate for profile %s does not exist", profile)
	}
	return response{body: []*node{certificateInfoList(profile, cert, op.child("detail") != nil)}}
}

// certificateInfoList renders a certificate as `show security pki ...
// | display xml` does (as Juniper's own test libraries read it):
// <x509-pki-certificate-info-list><pkid-x509-certificate-information>.
func certificateInfoList(id string, c *x509.Certificate, detail bool) *node {
	serial := hex.EncodeToString(c.SerialNumber.Bytes())
	if len(serial) < 8 {
		serial = strings.Repeat("0", 8-len(serial)) + serial
	}
	info := newNode("pkid-x509-certificate-information",
		leaf("identifier", id),
		leaf("version", strconv.Itoa(c.Version)),
		newNode("serial-number-list", leaf("serial-number-x509", serial)),
		newNode("issuer-name", distinguishedName(c.Issuer)),
		newNode("subject-name", distinguishedName(c.Subject)),
		newNode("subject-string-list", leaf("subject-string", c.Subject.String())),
		newNode("validity", leaf("not-before", junosTime(c.NotBefore)), leaf("not-after", junosTime(c.NotAfter))),
		newNode("public-key", leaf("public-key-algorithm", publicKeyAlgorithm(c)), leaf("public-key-length", strconv.Itoa(publicKeyBits(c)))),
		leaf("signature-algorithm", c.SignatureAlgorithm.String()),
	)
	info.Attrs = append(info.Attrs, xmlAttr("junos:style", map[bool]string{true: "detail", false: "brief"}[detail]))
	if detail {
		sum1, sumMD5 := sha1.Sum(c.Raw), md5.Sum(c.Raw) //nolint:gosec // display only
		info.Children = append(info.Children, newNode("fingerprint",
			leaf("fingerprint-content", colonHex(sum1[:])), leaf("fingerprint-hash-algorithm", "sha1"),
			leaf("fingerprint-content", colonHex(sumMD5[:])), leaf("fingerprint-hash-algorithm", "md5"),
		))
	}
	return newNode("x509-pki-certificate-info-list", info)
}

func distinguishedName(n pkix.Name) *node {
	dn := newNode("distinguished-name")
	add := func(name string, values []string) {
		for _, v := range values {
			dn.Children = append(dn.Children, leaf(name, v))
		}
	}
	add("organization-name", n.Organization)
	add("organizational-unit-name", n.OrganizationalUnit)
	if n.CommonName != "" {
		dn.Children = append(dn.Children, leaf("common-name", n.CommonName))
	}
	add("country-name", n.Country)
	return dn
}

// junosTime formats t as JunOS prints certificate validity: "04- 3-2017
// 09:13 UTC".
func junosTime(t time.Time) string { return t.UTC().Format("01-_2-2006 15:04 MST") }

func publicKeyAlgorithm(c *x509.Certificate) string {
	if _, ok := c.PublicKey.(*rsa.PublicKey); ok {
		return "rsaEncryption"
	}
	return "ecdsaEncryption"
}

func publicKeyBits(c *x509.Certificate) int {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen()
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize
	}
	return 0
}

// fileList is `file list PATH`: a directory's files in <directory-list>.
// A path that does not exist is reported in <output>, as PyEZ's
// utils/fs.py stat and ls expect.
func (d *Device) fileList(s *session, op *node) response {
	p, ok := filePath(s, op.childText("path"))
	if !ok {
		return output(op.childText("path") + ": No such file or directory")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	dirs := []string{"/var/tmp", "/var/log", "/var/home", "/var/home/" + s.user, "/config"}
	var names []string
	for f := range d.files {
		dir := path.Dir(f)
		if dir == p {
			names = append(names, path.Base(f))
		}
		for ; dir != "/"; dir = path.Dir(dir) {
			dirs = append(dirs, dir)
		}
	}
	if _, isFile := d.files[p]; !isFile && !slices.Contains(dirs, p) {
		return output(op.childText("path") + ": No such file or directory")
	}
	slices.Sort(names)
	dir := newNode("directory")
	dir.Attrs = append(dir.Attrs, xmlAttr("name", p+"/"))
	for _, n := range names {
		dir.Children = append(dir.Children, newNode("file-information", leaf("file-name", n)))
	}
	list := newNode("directory-list", dir)
	list.Attrs = append(list.Attrs, xmlAttr("root-path", p))
	return response{body: []*node{list}}
}
