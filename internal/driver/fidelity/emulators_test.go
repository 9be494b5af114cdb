package fidelity

import (
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEmulatorsShareNoCodeWithTheDrivers keeps each device emulator
// (internal/driver/<vendor>/<vendor>lab) an honest check of its driver: it
// lives beside the driver but imports nothing of ottr outside the
// emulators and their shared parts (the SSM instance runs the Linux
// host's shell), so a wrong reading of the vendor's documentation cannot pass from
// the driver into the emulator through shared code.
func TestEmulatorsShareNoCodeWithTheDrivers(t *testing.T) {
	labs, err := filepath.Glob("../*/*lab")
	if err != nil || len(labs) == 0 {
		t.Fatalf("no emulator folders found (%v)", err)
	}
	// Each emulator folder with its import path. Two shared parts are
	// held to the same rule: internal/awslab, the AWS emulators' request
	// signing check, and internal/lab/addrmux, the lab's sockets shared by
	// every emulated address.
	shared := map[string]string{
		"../../awslab":      "github.com/ottr-go/ottr/internal/awslab",
		"../../lab/addrmux": "github.com/ottr-go/ottr/internal/lab/addrmux",
	}
	paths := maps.Clone(shared)
	for _, lab := range labs {
		paths[lab] = "github.com/ottr-go/ottr/internal/driver/" + strings.TrimPrefix(filepath.ToSlash(lab), "../")
	}
	labs = slices.AppendSeq(labs, maps.Keys(shared))
	emulator := func(p string) bool {
		for _, own := range paths {
			if p == own || strings.HasPrefix(p, own+"/") {
				return true
			}
		}
		return false
	}
	for _, lab := range labs {
		err := filepath.WalkDir(lab, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(p, "github.com/ottr-go/ottr/") && !emulator(p) {
					t.Errorf("%s imports %s: an emulator uses only the standard library, outside modules and other emulators", path, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
