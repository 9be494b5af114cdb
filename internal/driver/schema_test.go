package driver_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// hostSchema is a schema of every kind, shaped like a Linux host's.
var hostSchema = driver.Schema{
	{Name: "cert_path", Kind: driver.OptionPath, Required: true, Doc: "absolute path that receives the leaf and its chain"},
	{Name: "reload_command", Kind: driver.OptionString, Required: true, Doc: `command that loads the new files, such as "systemctl reload nginx"`},
	{Name: "ssh_port", Kind: driver.OptionInt, Default: "22", Doc: "SSH port"},
	{Name: "sudo", Kind: driver.OptionBool, Default: "false", Doc: "run every command through sudo -n"},
	{Name: "timeout", Kind: driver.OptionDuration, Default: "2m", Doc: "bound of each command"},
	{Name: "plain_env", Kind: driver.OptionStringMap, Doc: "variables that are not secret"},
	{Name: "env", Kind: driver.OptionStringMap, Secret: true, Doc: "variables whose values are references"},
	{Name: "token", Kind: driver.OptionString, Secret: true, Doc: "reference to the API token"},
}

// valid returns options hostSchema accepts, changed by change: a nil
// value removes the option.
func valid(change map[string]any) map[string]any {
	o := map[string]any{"cert_path": "/etc/ssl/site.pem", "reload_command": "systemctl reload nginx"}
	for k, v := range change {
		if v == nil {
			delete(o, k)
			continue
		}
		o[k] = v
	}
	return o
}

func problemLines(ps []driver.OptionProblem) []string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return lines
}

func TestSchemaValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options map[string]any
		want    []string
	}{
		{"accepts the options of every kind",
			valid(map[string]any{"ssh_port": 2222, "sudo": true, "timeout": "90s", "plain_env": map[string]any{"SITE": "ams"},
				"env": map[string]any{"TOKEN": "env:DEVICE_TOKEN"}, "token": "file:/etc/ottr/token"}),
			nil},
		{"takes a quoted port and a duration in seconds", valid(map[string]any{"ssh_port": "2222", "timeout": 120}), nil},
		{"reports a misspelt required option as the misspelling alone",
			valid(map[string]any{"reload_command": nil, "reload_cmd": "systemctl reload nginx"}),
			[]string{`option "reload_cmd": unknown option (did you mean "reload_command"?)`}},
		{"lists the options when an unknown one is like none of them",
			valid(map[string]any{"colour": "red"}),
			[]string{`option "colour": unknown option (known: cert_path, env, plain_env, reload_command, ssh_port, sudo, timeout, token)`}},
		{"suggests an option written in capitals", valid(map[string]any{"SUDO": true}),
			[]string{`option "SUDO": unknown option (did you mean "sudo"?)`}},
		{"reports a missing required option with what to write",
			valid(map[string]any{"reload_command": nil}),
			[]string{`option "reload_command": is required: command that loads the new files, such as "systemctl reload nginx"`}},
		{"still reports a missing option when the misspelling is of another",
			valid(map[string]any{"reload_command": nil, "ssh_prot": 22}),
			[]string{`option "ssh_prot": unknown option (did you mean "ssh_port"?)`,
				`option "reload_command": is required: command that loads the new files, such as "systemctl reload nginx"`}},
		{"refuses a number where a string goes", valid(map[string]any{"reload_command": 5}),
			[]string{`option "reload_command": must be a string, got int 5`}},
		{"refuses a string spanning lines", valid(map[string]any{"reload_command": "a\nb"}),
			[]string{`option "reload_command": must be a single line`}},
		{"refuses a relative path", valid(map[string]any{"cert_path": "ssl/site.pem"}),
			[]string{`option "cert_path": must be an absolute path, got "ssl/site.pem"`}},
		{"refuses a path that is no string", valid(map[string]any{"cert_path": true}),
			[]string{`option "cert_path": must be an absolute path, got bool true`}},
		{"refuses an option left empty", func() map[string]any { o := valid(nil); o["sudo"] = nil; return o }(),
			[]string{`option "sudo": must be true or false, got nothing`}},
		{"refuses a word where a number goes", valid(map[string]any{"ssh_port": "ssh"}),
			[]string{`option "ssh_port": must be a whole number, got "ssh"`}},
		{"refuses a quoted boolean", valid(map[string]any{"sudo": "yes"}),
			[]string{`option "sudo": must be true or false, got "yes"`}},
		{"refuses a duration without a unit that is no number", valid(map[string]any{"timeout": "soon"}),
			[]string{`option "timeout": must be a duration such as "90s" or "10m", or a number of seconds, got "soon"`}},
		{"refuses a list where a map goes", valid(map[string]any{"plain_env": []any{"A=1"}}),
			[]string{`option "plain_env": must be a map of names to strings, got []interface {} [A=1]`}},
		{"refuses a number in a map, naming its entry", valid(map[string]any{"plain_env": map[string]any{"PORT": 22}}),
			[]string{`option "plain_env": PORT: must be a string (quote numbers and booleans), got int 22`}},
		{"refuses a secret of the wrong type without showing it", valid(map[string]any{"token": 4711, "env": map[string]any{"PIN": 4711}}),
			[]string{`option "env": PIN: must be a reference such as env:PIN, got a value of type int`,
				`option "token": must be a string, got a value of type int`}},
		{"refuses a secret written out, saying where plain values go", valid(map[string]any{"env": map[string]any{"TOKEN": "t0k"}}),
			[]string{`option "env": TOKEN: holds a secret written out in the configuration, which is refused: write a reference in its place, ` +
				`env:NAME to read environment variable NAME of the processes that rotate (e.g. env:TOKEN), file:/absolute/path to read a file they can read, ` +
				`or aws-sm:NAME#key or vault:MOUNT/PATH#key to read a secret store (secrets in the configuration); ` +
				`the value is not repeated here; values that are not secret, such as paths, go under "plain_env" instead`}},
		{"takes store references", valid(map[string]any{"env": map[string]any{"TOKEN": "aws-sm:prod/otter/slack", "KEY": "vault:secret/ottr/hooks#key"}}), nil},
		{"refuses a store reference without its path", valid(map[string]any{"env": map[string]any{"TOKEN": "vault:secret#key"}}),
			[]string{`option "env": TOKEN: reference vault:secret#key needs a mount and a path: write vault:MOUNT/PATH#key, such as vault:secret/otter/panos#password`}},
		{"reports every problem at once",
			map[string]any{"cert_pth": "/x", "ssh_port": 0.5, "bogus": 1},
			[]string{`option "bogus": unknown option (known: cert_path, env, plain_env, reload_command, ssh_port, sudo, timeout, token)`,
				`option "cert_pth": unknown option (did you mean "cert_path"?)`,
				`option "ssh_port": must be a whole number, got float64 0.5`,
				`option "reload_command": is required: command that loads the new files, such as "systemctl reload nginx"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := problemLines(hostSchema.Validate(tc.options)); !slices.Equal(got, tc.want) {
				t.Errorf("Validate reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestSchemaNamesItsSecretOptions(t *testing.T) {
	if got := hostSchema.SecretNames(); !slices.Equal(got, []string{"env", "token"}) {
		t.Errorf("SecretNames = %v, want [env token]", got)
	}
	if o, ok := hostSchema.Lookup("ssh_port"); !ok || o.Default != "22" {
		t.Errorf("Lookup(ssh_port) = %+v, %v", o, ok)
	}
	if _, ok := hostSchema.Lookup("port"); ok {
		t.Error("Lookup found an option the schema does not have")
	}
}

func TestOptionReaderGivesOnlyWellFormedValues(t *testing.T) {
	r := hostSchema.Read(valid(map[string]any{
		"ssh_port": "2222", "sudo": "yes", "timeout": 90, "plain_env": map[string]string{"SITE": "ams"},
		"env": map[string]any{"TOKEN": "resolved secret"},
	}))
	if n, ok := r.Int("ssh_port"); !ok || n != 2222 {
		t.Errorf("Int(ssh_port) = %d, %v; want 2222", n, ok)
	}
	if _, ok := r.Bool("sudo"); ok {
		t.Error("Bool gave a value the schema refused")
	}
	if d, ok := r.Duration("timeout"); !ok || d != 90*time.Second {
		t.Errorf("Duration(timeout) = %v, %v; want 90s", d, ok)
	}
	if m, ok := r.StringMap("plain_env"); !ok || !reflect.DeepEqual(m, map[string]string{"SITE": "ams"}) {
		t.Errorf("StringMap(plain_env) = %v, %v", m, ok)
	}
	if s, ok := r.String("cert_path"); !ok || s != "/etc/ssl/site.pem" {
		t.Errorf("String(cert_path) = %q, %v", s, ok)
	}
	if _, ok := r.String("token"); ok {
		t.Error("String gave an option that is absent")
	}
	// A session is opened with the references resolved: the reader does
	// not ask for them.
	if err := r.Err(); err == nil || err.Error() != `option "sudo": must be true or false, got "yes"` {
		t.Errorf("Err = %v, want the one problem with sudo", err)
	}
}

func TestOptionReaderChecksABoundedNumber(t *testing.T) {
	r := hostSchema.Read(valid(map[string]any{"ssh_port": 70000}))
	if n, ok := r.IntIn("ssh_port", 1, 65535); ok {
		t.Errorf("IntIn gave %d, out of bounds", n)
	}
	if err := r.Err(); err == nil || err.Error() != `option "ssh_port": must be between 1 and 65535, got 70000` {
		t.Errorf("Err = %v, want the port out of bounds", err)
	}
	r = hostSchema.Read(valid(map[string]any{"ssh_port": 2222}))
	if n, ok := r.IntIn("ssh_port", 1, 65535); !ok || n != 2222 || r.Err() != nil {
		t.Errorf("IntIn = %d, %v with %v; want 2222", n, ok, r.Err())
	}
}

func TestOptionReaderKnowsAMisspeltOptionFromAMissingOne(t *testing.T) {
	r := hostSchema.Read(valid(map[string]any{"reload_command": nil, "reload_comand": "x", "ssh_port": nil}))
	if r.Missing("reload_command") {
		t.Error("Missing(reload_command) with reload_comand written")
	}
	if !r.Missing("timeout") {
		t.Error("Missing(timeout) = false for an absent option")
	}
	if r.Missing("cert_path") {
		t.Error("Missing(cert_path) = true for a present option")
	}
}

func TestOptionReaderLetsTheDriverExplainAnOptionItDoesNotTake(t *testing.T) {
	r := hostSchema.Read(valid(map[string]any{"api_port": 443}))
	r.Bad("api_port", "not used: this driver talks SSH")
	r.Bad("ssh_port", "must be between %d and %d", 1, 65535)
	want := "option \"api_port\": not used: this driver talks SSH\noption \"ssh_port\": must be between 1 and 65535"
	if err := r.Err(); err == nil || err.Error() != want {
		t.Errorf("Err = %v, want\n%s", err, want)
	}
}

func TestOptionReaderRefusesToReadWhatTheSchemaDoesNotDeclare(t *testing.T) {
	for name, read := range map[string]func(r *driver.OptionReader){
		"an option the schema lacks": func(r *driver.OptionReader) { r.String("address") },
		"an option as another kind":  func(r *driver.OptionReader) { r.Int("sudo") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			read(hostSchema.Read(valid(nil)))
		})
	}
}

// ruledDriver is a driver with hostSchema whose own rules are rules.
type ruledDriver struct{ rules func(map[string]any) error }

func (d ruledDriver) Name() string                           { return "host" }
func (d ruledDriver) Capabilities() driver.Capabilities      { return driver.Capabilities{} }
func (d ruledDriver) Schema() driver.Schema                  { return hostSchema }
func (d ruledDriver) ValidateOptions(o map[string]any) error { return d.rules(o) }
func (d ruledDriver) Open(context.Context, driver.Target, driver.Credentials) (driver.Session, error) {
	return nil, errors.New("not a device")
}

func TestCheckOptionsReportsEachProblemOnce(t *testing.T) {
	// portRule is a driver rule on a well-formed port.
	portRule := func(o map[string]any) error {
		var ps driver.OptionProblems
		if n, ok := o["ssh_port"].(int); ok && n > 65535 {
			ps.Add("ssh_port", "must be between 1 and 65535, got %d", n)
		}
		return ps.Err()
	}
	// ownChecks is a driver that checks what the schema checks, in its
	// own words, and explains an option it does not take.
	ownChecks := func(o map[string]any) error {
		var ps driver.OptionProblems
		if _, ok := o["reload_command"]; !ok {
			ps.Add("reload_command", "is required")
		}
		if _, ok := o["sudo"].(bool); !ok && o["sudo"] != nil {
			ps.Add("sudo", "must be a boolean")
		}
		if _, ok := o["api_port"]; ok {
			ps.Add("api_port", "not used: this driver talks SSH")
		}
		if env, ok := o["env"].(map[string]any); ok {
			for name, v := range env {
				if _, ok := v.(string); !ok {
					ps = append(ps, driver.OptionProblem{Option: "env", Entry: name, Message: "must be a string"})
				}
			}
			if _, ok := env["SITE"]; ok {
				ps = append(ps, driver.OptionProblem{Option: "env", Entry: "SITE", Message: "is not secret: set it in plain_env"})
			}
		}
		return fmt.Errorf("host: options: %w", ps.Err())
	}
	// looseChecks is a driver whose problems name no option.
	looseChecks := func(o map[string]any) error {
		if _, ok := o["reload_command"]; !ok {
			return errors.New(`host: options: reload_command is required`)
		}
		if o["sudo"] == true && o["ssh_port"] == 22 {
			return errors.New(`host: options: sudo needs another port`)
		}
		return nil
	}
	for _, tc := range []struct {
		name    string
		rules   func(map[string]any) error
		options map[string]any
		want    []string
	}{
		{"passes options both accept", portRule, valid(nil), nil},
		{"adds the driver's rules to the schema's problems", portRule,
			valid(map[string]any{"ssh_port": 70000, "sudo": "yes"}),
			[]string{`option "sudo": must be true or false, got "yes"`, `option "ssh_port": must be between 1 and 65535, got 70000`}},
		{"says nothing of an option missing because it is misspelt", ownChecks,
			valid(map[string]any{"reload_command": nil, "reload_cmd": "x"}),
			[]string{`option "reload_cmd": unknown option (did you mean "reload_command"?)`}},
		{"says once what the schema says of an option", ownChecks, valid(map[string]any{"sudo": "yes"}),
			[]string{`option "sudo": must be true or false, got "yes"`}},
		{"takes the driver's words for an option it does not take", ownChecks, valid(map[string]any{"api_port": 443}),
			[]string{`option "api_port": not used: this driver talks SSH`}},
		{"says once what the schema says of a value within an option, and what it does not", ownChecks,
			valid(map[string]any{"env": map[string]any{"PIN": 4711, "SITE": "env:SITE"}}),
			[]string{`option "env": PIN: must be a reference such as env:PIN, got a value of type int`,
				`option "env": SITE: is not secret: set it in plain_env`}},
		{"drops a problem naming no option when the schema found one", looseChecks,
			valid(map[string]any{"reload_command": nil, "reload_cmd": "x"}),
			[]string{`option "reload_cmd": unknown option (did you mean "reload_command"?)`}},
		{"keeps a problem naming no option when the schema found none", looseChecks,
			valid(map[string]any{"sudo": true, "ssh_port": 22}),
			[]string{`host: options: sudo needs another port`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := driver.CheckOptions(ruledDriver{tc.rules}, tc.options)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("CheckOptions reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			var p *driver.OptionProblem
			if err != nil && !errors.As(err, &p) {
				t.Errorf("%v holds no *OptionProblem", err)
			}
		})
	}
}

func TestRegistryRedactsTheOptionsItsSchemaCallsSecret(t *testing.T) {
	r := driver.NewRegistry(ruledDriver{})
	options := valid(map[string]any{"token": "env:TOKEN", "env": map[string]any{"PIN": "file:/etc/pin"}, "sudo": true})
	want := valid(map[string]any{"token": driver.Redacted, "env": map[string]any{"PIN": driver.Redacted}, "sudo": true})
	if got := r.RedactOptions("host", options); !reflect.DeepEqual(got, want) {
		t.Errorf("RedactOptions = %v, want %v", got, want)
	}
	all := r.RedactOptions("gone", map[string]any{"sudo": true})
	if !reflect.DeepEqual(all, map[string]any{"sudo": driver.Redacted}) {
		t.Errorf("RedactOptions of a driver the registry lacks = %v, want every value redacted", all)
	}
}
