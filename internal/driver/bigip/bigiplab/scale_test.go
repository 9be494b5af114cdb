package bigiplab

import (
	"context"
	"testing"
)

// BenchmarkStart starts and stops one device per iteration: what `ottr lab`
// pays for each emulated BIG-IP (a P-256 factory certificate and two
// listeners).
//
//	go test -run '^$' -bench Start ./internal/driver/bigip/bigiplab/
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		d, err := Start(context.Background(), Config{Name: "lab1.example.test", Username: testUser, Password: testPassword})
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
