package linuxlab

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The in-process shell makes keys and CSRs itself for the one openssl
// command form drivers send to generate them:
//
//	openssl req -new -newkey rsa:BITS|ec [-pkeyopt ec_paramgen_curve:P-256|P-384]
//	    [-pkeyopt ec_param_enc:named_curve] -nodes -keyout FILE [-sha256|-sha384|-sha512]
//	    -subj /CN=NAME [-addext subjectAltName=DNS:a,DNS:b] [-pubkey]
//
// Starting openssl costs a process and a library load (about 13 ms of CPU
// here, three times what making an ECDSA key and signing a CSR costs), and
// a fleet on one machine makes one key per host per wave. What it writes
// and prints is what OpenSSL 3 writes and prints: the key as unencrypted
// PKCS#8 PEM in a file created 0600 (less the umask), then on standard
// output the public key (with -pubkey) and the CSR, whose subject is the
// common name and whose only requested extension is the subject
// alternative names. TestBuiltinOpenSSLMatchesOpenSSL compares the two.
// Any other openssl command, or this one with an option or value not
// listed, runs the real program.

// opensslRequest is a parsed "openssl req" key-and-CSR command.
type opensslRequest struct {
	keyBits  int            // RSA modulus size; 0 for ECDSA
	curve    elliptic.Curve // ECDSA curve; nil for RSA
	keyOut   string
	digest   crypto.Hash
	cn       string
	dnsNames []string
	pubkey   bool
}

// parseOpenSSLRequest reads args (after "openssl") and reports whether
// they are the command form the builtin makes itself.
func parseOpenSSLRequest(args []string) (opensslRequest, bool) {
	var r opensslRequest
	if len(args) == 0 || args[0] != "req" {
		return r, false
	}
	var isNew, noEncryption, ecKey bool
	for i := 1; i < len(args); i++ {
		value := func() (string, bool) {
			if i+1 >= len(args) {
				return "", false
			}
			i++
			return args[i], true
		}
		var ok bool
		switch a := args[i]; a {
		case "-new":
			isNew, ok = true, true
		case "-nodes", "-noenc":
			noEncryption, ok = true, true
		case "-pubkey":
			r.pubkey, ok = true, true
		case "-sha256", "-sha384", "-sha512":
			r.digest, ok = map[string]crypto.Hash{"-sha256": crypto.SHA256, "-sha384": crypto.SHA384, "-sha512": crypto.SHA512}[a], true
		case "-newkey":
			var v string
			if v, ok = value(); !ok {
				break
			}
			if v == "ec" {
				ecKey = true
			} else if bits, found := strings.CutPrefix(v, "rsa:"); found {
				n, err := strconv.Atoi(bits)
				ok = err == nil && (n == 2048 || n == 3072 || n == 4096)
				r.keyBits = n
			} else {
				ok = false
			}
		case "-pkeyopt":
			var v string
			if v, ok = value(); !ok {
				break
			}
			switch v {
			case "ec_paramgen_curve:P-256", "ec_paramgen_curve:prime256v1":
				r.curve = elliptic.P256()
			case "ec_paramgen_curve:P-384", "ec_paramgen_curve:secp384r1":
				r.curve = elliptic.P384()
			case "ec_param_enc:named_curve":
				// OpenSSL 3 writes named curves without being asked.
			default:
				ok = false
			}
		case "-keyout":
			r.keyOut, ok = value()
		case "-subj":
			var v string
			if v, ok = value(); ok {
				r.cn, ok = strings.CutPrefix(v, "/CN=")
				// Escapes, more attributes or multi-valued names: openssl's
				// own parser decides those.
				ok = ok && r.cn != "" && !strings.ContainsAny(r.cn, `/\+=`)
			}
		case "-addext":
			var v string
			if v, ok = value(); ok {
				r.dnsNames, ok = parseDNSAltNames(v)
			}
		}
		if !ok {
			return r, false
		}
	}
	if !isNew || !noEncryption || r.keyOut == "" || r.cn == "" || ecKey != (r.curve != nil) || (!ecKey && r.keyBits == 0) {
		return r, false
	}
	if r.digest == 0 {
		r.digest = crypto.SHA256
	}
	return r, true
}

// parseDNSAltNames reads "subjectAltName=DNS:a,DNS:b".
func parseDNSAltNames(ext string) ([]string, bool) {
	list, ok := strings.CutPrefix(ext, "subjectAltName=")
	if !ok || list == "" {
		return nil, false
	}
	var names []string
	for _, entry := range strings.Split(list, ",") {
		name, ok := strings.CutPrefix(entry, "DNS:")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, false
		}
		names = append(names, name)
	}
	return names, true
}

// signatureAlgorithm is the CSR signature OpenSSL uses for the key and
// digest.
func (r opensslRequest) signatureAlgorithm() x509.SignatureAlgorithm {
	if r.curve != nil {
		return map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA384: x509.ECDSAWithSHA384, crypto.SHA512: x509.ECDSAWithSHA512}[r.digest]
	}
	return map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.SHA256WithRSA, crypto.SHA384: x509.SHA384WithRSA, crypto.SHA512: x509.SHA512WithRSA}[r.digest]
}

// opensslReq runs a parsed request: makes the key, writes it to keyOut
// and prints the public key and the CSR to stdout.
func (u utility) opensslReq(r opensslRequest, stdout io.Writer) error {
	var key crypto.Signer
	var err error
	if r.curve != nil {
		key, err = ecdsa.GenerateKey(r.curve, rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, r.keyBits)
	}
	if err != nil {
		return u.failf("key generation failed: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return u.failf("encode the key: %v", err)
	}
	// OpenSSL writes the name as a UTF8String (string_mask utf8only);
	// Go would pick PrintableString.
	subject, err := asn1.Marshal(pkix.RDNSequence{{{
		Type:  asn1.ObjectIdentifier{2, 5, 4, 3},
		Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(r.cn)},
	}}})
	if err != nil {
		return u.failf("encode the subject: %v", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		RawSubject:         subject,
		DNSNames:           r.dnsNames,
		SignatureAlgorithm: r.signatureAlgorithm(),
	}, key)
	if err != nil {
		return u.failf("sign the request: %v", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return u.failf("encode the public key: %v", err)
	}

	// OpenSSL opens the key file for its owner only; the umask still
	// applies, as to any file a process creates.
	f, err := os.OpenFile(u.abs(r.keyOut), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600&^u.umask)
	if err != nil {
		return u.failf("Can't open %q for writing, %s", r.keyOut, describe(err))
	}
	_, werr := f.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return u.failf("write %q: %s", r.keyOut, describe(werr))
	}
	var out []byte
	if r.pubkey {
		out = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	}
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})...)
	if _, err := stdout.Write(out); err != nil {
		return fmt.Errorf("write the request: %w", err)
	}
	return nil
}
