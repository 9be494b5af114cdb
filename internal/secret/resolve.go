package secret

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Prefixes of secret references in ottr.yaml.
const (
	// EnvPrefix reads the rest of the reference as an environment variable name.
	EnvPrefix = "env:"
	// FilePrefix reads the rest of the reference as a file path.
	FilePrefix = "file:"
)

// Resolve returns the secret a reference from ottr.yaml stands for:
//
//	env:NAME   the value of environment variable NAME (an error if unset or empty)
//	file:PATH  the contents of the file, less one trailing newline
//	otherwise  the reference itself, taken literally
//
// env and readFile are injected (os.LookupEnv and os.ReadFile in
// production) so callers and tests decide where values come from. Errors
// name the variable or file but never contain a value.
func Resolve(ref string, env func(string) (string, bool), readFile func(string) ([]byte, error)) (string, error) {
	switch {
	case strings.HasPrefix(ref, EnvPrefix):
		name := strings.TrimPrefix(ref, EnvPrefix)
		if name == "" {
			return "", errors.New(`secret: reference "env:" names no environment variable`)
		}
		value, ok := env(name)
		if !ok {
			return "", fmt.Errorf("secret: environment variable %s is not set", name)
		}
		// An empty credential is almost always a variable exported by
		// mistake; failing here beats a confusing login failure later.
		if value == "" {
			return "", fmt.Errorf("secret: environment variable %s is empty", name)
		}
		return value, nil
	case strings.HasPrefix(ref, FilePrefix):
		path := strings.TrimPrefix(ref, FilePrefix)
		if path == "" {
			return "", errors.New(`secret: reference "file:" names no file`)
		}
		data, err := readFile(path)
		if err != nil {
			// os.ReadFile's errors name the path and the reason, never
			// the contents; name the path ourselves only if they do not.
			var pathErr *fs.PathError
			if errors.As(err, &pathErr) {
				return "", fmt.Errorf("secret: read secret file: %w", err)
			}
			return "", fmt.Errorf("secret: read secret file %s: %w", path, err)
		}
		value := string(data)
		if v, ok := strings.CutSuffix(value, "\n"); ok {
			value = strings.TrimSuffix(v, "\r")
		}
		return value, nil
	default:
		return ref, nil
	}
}
